"""The official `openai` npm SDK, unchanged, against the gateway: only the base URL differs.

tests/sdk/sdk_check.mjs runs every check once against one gateway (module-scoped
fixture) and prints `ok - name` / `not ok - name: reason`; each check is one
test here. The last checks use the SDK's AzureOpenAI client (endpoint = the
gateway's root) against the Azure-style route. Skipped (not failed) when node is missing or the SDK cannot be
installed (npm registry unreachable).
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, Gateway, check_gateways, provider

SDK_DIR = os.path.join(REPO, "tests", "sdk")
SCRIPT = os.path.join(SDK_DIR, "sdk_check.mjs")
NPM_INSTALL_TIMEOUT = 180
NODE_TIMEOUT = 240

# Must match the check names in tests/sdk/sdk_check.mjs (test_sdk_prints_every_check
# fails if the two lists drift apart).
CHECKS = [
    "chat non-stream",
    "chat stream",
    "chat stream include_usage",
    "tools non-stream",
    "tools stream (SDK stream helper)",
    "tools stream (manual accumulation)",
    "completions non-stream",
    "embeddings",
    "embeddings default encoding",
    "embeddings via a Gemini provider",
    "models list",
    "unknown model raises NotFoundError",
    "mid-stream upstream reset raises",
    "azure client chat non-stream",
    "azure client chat stream (deployment wins over the body's model)",
]

# npm install and a whole node run can outlast the harness's default 60 s watchdog.
pytestmark = pytest.mark.limit(NPM_INSTALL_TIMEOUT + NODE_TIMEOUT + 60)

_LINE = re.compile(r"^(ok|not ok) - (.*?)(?:: (.*))?$")


def _tail(text, n=20):
    return "\n".join((text or "").strip().splitlines()[-n:])


def _ensure_sdk():
    """node on PATH and the SDK installed in tests/sdk/node_modules, or skip."""
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (needed for the openai npm SDK check)")
    try:
        v = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip("node does not run: %s" % e)
    m = re.match(r"v(\d+)", v)
    if not m or int(m.group(1)) < 18:
        pytest.skip("node %r is too old for the openai SDK (needs 18+, global fetch)" % v)
    if os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")):
        return node
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm is not installed and tests/sdk/node_modules is missing")
    cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", SDK_DIR]
    env = dict(os.environ, npm_config_update_notifier="false")
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT,
                           stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of the openai SDK timed out after %d s (registry unreachable?)"
                    % NPM_INSTALL_TIMEOUT)
    except OSError as e:
        pytest.skip("npm install could not run: %s" % e)
    if r.returncode != 0 or not os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")):
        pytest.skip("npm install of the openai SDK failed (exit %s; registry unreachable?):\n%s"
                    % (r.returncode, _tail(r.stderr or r.stdout)))
    return node


def sdk_config(mock):
    return {"providers": {
        "mock": provider(mock.url(), models=("mock-small", "mock-embed")),
        "broken": provider(mock.url(reset_after=3), models=("mock-reset",)),
        # Gemini kind: base_url is the host root (embeddings go to :batchEmbedContents)
        "gem": dict(provider(mock.url()[:-len("/v1")], models=("gem-embed",)), kind="gemini"),
    }}


@pytest.fixture(scope="module")
def sdk_run(mock, tmp_path_factory):
    """One gateway, one `node sdk_check.mjs` run; the parsed result for every check."""
    node = _ensure_sdk()
    gw = Gateway(str(tmp_path_factory.mktemp("sdk_gw")), sdk_config(mock))
    base_url = "http://127.0.0.1:%d/v1" % gw.port
    try:
        gw.start()
        try:
            r = subprocess.run([node, SCRIPT, base_url], cwd=REPO, capture_output=True, text=True,
                               timeout=NODE_TIMEOUT, stdin=subprocess.DEVNULL)
            rc, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = None, e.stdout or "", "node timed out after %d s\n%s" % (NODE_TIMEOUT, e.stderr or "")
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
    finally:
        problems = check_gateways([gw])
    results = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            results[m.group(2)] = (m.group(1) == "ok", m.group(3))
    return {"rc": rc, "stdout": out, "stderr": err, "results": results, "gateway_problems": problems,
            "gateway_log": gw.stderr_text(), "base_url": base_url}


def _report(run):
    return "node exit %s\nstdout:\n%s\nstderr:\n%s\ngateway stderr tail:\n%s" % (
        run["rc"], run["stdout"], _tail(run["stderr"], 30), _tail(run["gateway_log"], 15))


@pytest.mark.parametrize("name", CHECKS, ids=[re.sub(r"[^a-z0-9]+", "_", c.lower()).strip("_") for c in CHECKS])
def test_openai_sdk(sdk_run, name):
    res = sdk_run["results"].get(name)
    assert res is not None, "sdk_check.mjs printed no line for %r\n%s" % (name, _report(sdk_run))
    ok, reason = res
    assert ok, "openai SDK check %r failed: %s\n%s" % (name, reason, _report(sdk_run))


def test_sdk_prints_every_check(sdk_run):
    assert list(sdk_run["results"]) == CHECKS, _report(sdk_run)


def test_sdk_check_exits_zero_and_gateway_stays_clean(sdk_run):
    assert sdk_run["rc"] == 0, _report(sdk_run)
    assert not sdk_run["gateway_problems"], sdk_run["gateway_problems"]
