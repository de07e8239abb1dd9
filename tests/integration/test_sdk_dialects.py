"""The official `@anthropic-ai/sdk` and `@google/genai` npm SDKs, unchanged, against the gateway:
only the base URL differs, and the models they ask for are served by providers of ANOTHER
dialect (Anthropic SDK -> openai-kind and gemini-kind providers; Gemini SDK -> openai-kind and
anthropic-kind providers), plus a same-dialect passthrough each. Token counts are exact (the mock's
word count) where the provider has a count endpoint, the gateway's labelled bytes/4 estimate on the
openai-kind provider.

tests/sdk/anthropic_check.mjs and tests/sdk/genai_check.mjs each run every check once against
one gateway (module-scoped fixture) and print `ok - name` / `not ok - name: reason`; each check
is one test here. Skipped (not failed) when node is missing or the SDKs cannot be installed
(npm registry unreachable).
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, Gateway, check_gateways, provider

SDK_DIR = os.path.join(REPO, "tests", "sdk")
PACKAGES = ("@anthropic-ai/sdk", "@google/genai")
NPM_INSTALL_TIMEOUT = 180
NODE_TIMEOUT = 240

TARGETS = {
    "anthropic": ("openai provider", "gemini provider", "anthropic passthrough"),
    "genai": ("openai provider", "anthropic provider", "gemini passthrough"),
}

# Must match the check names in the scripts (test_*_prints_every_check fails if the lists drift apart).
SCRIPTS = {
    "anthropic": {
        "script": os.path.join(SDK_DIR, "anthropic_check.mjs"),
        "checks": ["%s (%s)" % (c, t) for t in TARGETS["anthropic"]
                   for c in ("text", "stream helper text", "stream for-await", "tool_use",
                             "tool_use stream helper", "count tokens")]
        + ["unknown model raises NotFoundError", "unknown model raises NotFoundError (stream helper)"],
    },
    "genai": {
        "script": os.path.join(SDK_DIR, "genai_check.mjs"),
        "checks": ["%s (%s)" % (c, t) for t in TARGETS["genai"]
                   for c in ("text", "stream", "function call", "function call stream", "count tokens")]
        + ["unknown model raises ApiError 404", "unknown model raises ApiError 404 (stream)"],
    },
}

# npm install and two whole node runs can outlast the harness's default 60 s watchdog.
pytestmark = pytest.mark.limit(NPM_INSTALL_TIMEOUT + 2 * NODE_TIMEOUT + 60)

_LINE = re.compile(r"^(ok|not ok) - (.*?)(?:: (.*))?$")


def _tail(text, n=20):
    return "\n".join((text or "").strip().splitlines()[-n:])


def _installed():
    return all(os.path.isdir(os.path.join(SDK_DIR, "node_modules", p)) for p in PACKAGES)


def _ensure_sdks():
    """node on PATH and both SDKs installed in tests/sdk/node_modules, or skip."""
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (needed for the @anthropic-ai/sdk and @google/genai checks)")
    try:
        v = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip("node does not run: %s" % e)
    m = re.match(r"v(\d+)", v)
    if not m or int(m.group(1)) < 20:
        pytest.skip("node %r is too old for these SDKs (checked on node 20+)" % v)
    if _installed():
        return node
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm is not installed and tests/sdk/node_modules lacks %s" % " / ".join(PACKAGES))
    cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", SDK_DIR]
    env = dict(os.environ, npm_config_update_notifier="false")
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT,
                           stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of the SDKs timed out after %d s (registry unreachable?)" % NPM_INSTALL_TIMEOUT)
    except OSError as e:
        pytest.skip("npm install could not run: %s" % e)
    if r.returncode != 0 or not _installed():
        pytest.skip("npm install of the SDKs failed (exit %s; registry unreachable?):\n%s"
                    % (r.returncode, _tail(r.stderr or r.stdout)))
    return node


def _root(mock):
    """Host-root base URL (Anthropic and Gemini kinds append their own paths)."""
    return "http://127.0.0.1:%d" % mock.port


def sdk_dialects_config(mock):
    # the same three providers as test_dialects.py, all on the mock (it speaks every dialect)
    return {"providers": {
        "oai": provider(mock.url(), models=["mock-small"]),
        "ant": dict(provider(_root(mock), models=["claude-mock"], api_key="ant-key"), kind="anthropic"),
        "gem": dict(provider(_root(mock), models=["gemini-mock"], api_key="gem-key"), kind="gemini"),
    }}


def _run(node, script, base_url):
    try:
        r = subprocess.run([node, script, base_url], cwd=REPO, capture_output=True, text=True,
                           timeout=NODE_TIMEOUT, stdin=subprocess.DEVNULL)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, e.stdout or "", "node timed out after %d s\n%s" % (NODE_TIMEOUT, e.stderr or "")
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
    results = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            results[m.group(2)] = (m.group(1) == "ok", m.group(3))
    return {"rc": rc, "stdout": out, "stderr": err, "results": results}


@pytest.fixture(scope="module")
def sdk_runs(mock, tmp_path_factory):
    """One gateway, one `node <script>` run per SDK; the parsed result for every check."""
    node = _ensure_sdks()
    gw = Gateway(str(tmp_path_factory.mktemp("sdk_dialects_gw")), sdk_dialects_config(mock))
    # both SDKs take the host root and append /v1/... themselves
    base_url = "http://127.0.0.1:%d" % gw.port
    runs = {}
    try:
        gw.start()
        for sdk, spec in SCRIPTS.items():
            runs[sdk] = _run(node, spec["script"], base_url)
    finally:
        problems = check_gateways([gw])
    log = gw.stderr_text()
    for run in runs.values():
        run.update(gateway_problems=problems, gateway_log=log, base_url=base_url)
    return runs


def _report(run):
    return "node exit %s\nstdout:\n%s\nstderr:\n%s\ngateway stderr tail:\n%s" % (
        run["rc"], run["stdout"], _tail(run["stderr"], 30), _tail(run["gateway_log"], 15))


def _ids(checks):
    return [re.sub(r"[^a-z0-9]+", "_", c.lower()).strip("_") for c in checks]


def _check(sdk_runs, sdk, name):
    run = sdk_runs[sdk]
    res = run["results"].get(name)
    assert res is not None, "%s check script printed no line for %r\n%s" % (sdk, name, _report(run))
    ok, reason = res
    assert ok, "%s SDK check %r failed: %s\n%s" % (sdk, name, reason, _report(run))


@pytest.mark.parametrize("name", SCRIPTS["anthropic"]["checks"], ids=_ids(SCRIPTS["anthropic"]["checks"]))
def test_anthropic_sdk(sdk_runs, name):
    _check(sdk_runs, "anthropic", name)


@pytest.mark.parametrize("name", SCRIPTS["genai"]["checks"], ids=_ids(SCRIPTS["genai"]["checks"]))
def test_genai_sdk(sdk_runs, name):
    _check(sdk_runs, "genai", name)


@pytest.mark.parametrize("sdk", list(SCRIPTS))
def test_sdk_prints_every_check(sdk_runs, sdk):
    run = sdk_runs[sdk]
    assert list(run["results"]) == SCRIPTS[sdk]["checks"], _report(run)


@pytest.mark.parametrize("sdk", list(SCRIPTS))
def test_sdk_check_exits_zero_and_gateway_stays_clean(sdk_runs, sdk):
    run = sdk_runs[sdk]
    # the gateway first: a crash or sanitizer report matters more than which check it broke
    assert not run["gateway_problems"], run["gateway_problems"]
    assert run["rc"] == 0, _report(run)
