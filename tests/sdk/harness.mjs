// harness.mjs - the check runner the SDK scripts share: register checks with
// check(name, fn), then run(label) prints `ok - name` / `not ok - name: reason`
// per check, a summary, and exits 1 when any failed. Each check gets
// SDK_CHECK_TIMEOUT_MS (default 20 s).
const CHECK_TIMEOUT_MS = Number(process.env.SDK_CHECK_TIMEOUT_MS || 20000);
const checks = [];

export const check = (name, fn) => checks.push({ name, fn });

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

export async function run(label) {
  let failed = 0;
  for (const { name, fn } of checks) {
    try {
      await withTimeout(fn(), CHECK_TIMEOUT_MS);
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      const reason = `${e?.constructor?.name ?? "Error"}: ${e?.message ?? e}`.replace(/\s*\n\s*/g, " ");
      console.log(`not ok - ${name}: ${reason}`);
    }
  }
  console.log(`# ${checks.length - failed}/${checks.length} checks passed (${label})`);
  process.exit(failed ? 1 : 0);
}
