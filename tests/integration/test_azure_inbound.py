"""Azure-style inbound: what openai's AzureOpenAI client and Azure tooling send,
`POST /openai/deployments/{model}/chat/completions?api-version=...` with the key
in `api-key` (or `Authorization: Bearer`), through the real binary.

The deployment in the path is the model the client asked for (URL-decoded,
`%2F` or a raw `/` for `provider/model`); it wins over a `model` in the body,
and the `Routeur-*` headers win over it. Requests and replies are OpenAI's, so
every provider kind is reached exactly as from `/v1/chat/completions`, streams
included. The client's key never goes upstream.
"""
import json

from conftest import (assert_openai_error, chat_body, http_request, mock_text, provider, stream_text)

API_VERSION = "2024-10-21"
CLIENT_KEY = "client-secret-key-123"
AZ_HEADERS = {"api-key": CLIENT_KEY}
MESSAGES = [{"role": "user", "content": "Say hello"}]


def root(mock, **spec):
    """Host-root base URL (Anthropic and Azure kinds append their own paths)."""
    return mock.url(**spec)[:-len("/v1")] if spec else "http://127.0.0.1:%d" % mock.port


def cfg(mock):
    return {
        "providers": {
            "oai": provider(mock.url(), models=["mock-small", "mock-embed"], api_key="oai-key"),
            "ant": dict(provider(root(mock), models=["claude-mock"], api_key="ant-key"), kind="anthropic"),
            "az": dict(provider(root(mock), models=["azure-mock"], api_key="az-key"), kind="azure"),
        },
        "aliases": {"smart": [{"provider": "ant", "model": "claude-mock"}]},
    }


def az_path(deployment, suffix="/chat/completions", api_version=API_VERSION):
    q = "" if api_version is None else "?api-version=" + api_version
    return "/openai/deployments/%s%s%s" % (deployment, suffix, q)


def body(stream=False, **extra):
    """What the AzureOpenAI client sends: no `model` (the deployment names it)."""
    b = {"messages": MESSAGES}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def assert_key_not_forwarded(last):
    for name, value in last["headers"].items():
        assert CLIENT_KEY not in value, "the client's key went upstream in %s: %r" % (name, last["headers"])
    assert CLIENT_KEY not in last["body"]


def test_non_stream_to_an_openai_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat(body(), path=az_path("mock-small"), headers=AZ_HEADERS)
    assert r.status == 200, r
    d = r.json()
    assert d["object"] == "chat.completion"
    assert d["choices"][0]["message"]["content"] == mock_text("mock-small")
    assert d["choices"][0]["finish_reason"] == "stop"
    assert d["usage"]["completion_tokens"] == 7
    assert r.header("x-moongate-provider") == "oai" and r.header("x-moongate-model") == "mock-small"
    last = mock.last()
    assert last["path"] == "/v1/chat/completions", last["path"]   # no api-version upstream
    assert json.loads(last["body"]) == {"messages": MESSAGES, "model": "mock-small"}
    assert last["headers"]["authorization"] == "Bearer oai-key"
    assert "api-key" not in last["headers"]
    assert_key_not_forwarded(last)


def test_stream_to_an_openai_provider(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(body(stream=True), path=az_path("mock-small"), headers=AZ_HEADERS)
    c.read_all()
    assert c.status == 200
    assert c.headers["content-type"].startswith("text/event-stream")
    assert c.saw_done and c.events[-1].is_done
    assert stream_text(c.events) == mock_text("mock-small")
    chunks = c.chunks()
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    # no include_usage asked: the usage chunk the gateway requested for itself is hidden
    assert not any(ch.get("usage") for ch in chunks)
    assert json.loads(mock.last()["body"])["stream_options"] == {"include_usage": True}
    assert_key_not_forwarded(mock.last())


def test_non_stream_to_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat(body(), path=az_path("smart"), headers=AZ_HEADERS)
    assert r.status == 200, r
    d = r.json()
    assert d["object"] == "chat.completion"
    assert d["choices"][0]["message"]["content"] == mock_text("claude-mock")
    assert d["choices"][0]["finish_reason"] == "stop"
    last = mock.last()
    assert last["path"] == "/v1/messages"
    assert last["headers"]["x-api-key"] == "ant-key"
    assert json.loads(last["body"])["model"] == "claude-mock"
    assert_key_not_forwarded(last)


def test_stream_to_an_anthropic_provider(gateway, mock):
    gw = gateway(cfg(mock))
    c = gw.stream(body(stream=True, stream_options={"include_usage": True}), path=az_path("ant%2Fclaude-mock"),
                  headers=AZ_HEADERS)
    c.read_all()
    assert c.status == 200
    assert c.saw_done and c.events[-1].is_done
    assert stream_text(c.events) == mock_text("claude-mock")
    chunks = c.chunks()
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"] and
            ch["choices"][0].get("finish_reason")] == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    last = mock.last()
    assert last["path"] == "/v1/messages" and json.loads(last["body"])["stream"] is True
    assert_key_not_forwarded(last)


def test_an_azure_provider_gets_its_own_key_not_the_clients(gateway, mock):
    """Both sides use `api-key`: upstream it must be the provider's."""
    gw = gateway(cfg(mock))
    r = gw.chat(body(), path=az_path("azure-mock"), headers=AZ_HEADERS)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == mock_text("azure-mock")
    last = mock.last()
    assert last["path"].startswith("/openai/deployments/azure-mock/chat/completions?api-version="), last["path"]
    assert last["headers"]["api-key"] == "az-key"
    assert_key_not_forwarded(last)


def test_precedence_headers_then_deployment_then_body(gateway, mock):
    gw = gateway(cfg(mock))
    # the deployment wins over the body's model (Azure's semantics)
    r = gw.chat(body(model="claude-mock"), path=az_path("mock-small"), headers=AZ_HEADERS)
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "oai"
    assert json.loads(mock.last()["body"])["model"] == "mock-small"
    # Routeur-Model wins over the deployment
    r = gw.chat(body(), path=az_path("mock-small"), headers=dict(AZ_HEADERS, **{"Routeur-Model": "claude-mock"}))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "ant" and r.header("x-moongate-model") == "claude-mock"
    # Routeur-Provider: that provider, with the deployment as the model ("provider/" prefix dropped)
    r = gw.chat(body(model="nope"), path=az_path("oai%2Fclaude-mock"),
                headers=dict(AZ_HEADERS, **{"Routeur-Provider": "ant"}))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "ant" and r.header("x-moongate-model") == "claude-mock"


def test_slash_in_the_deployment_encoded_or_raw(gateway, mock):
    gw = gateway(cfg(mock))
    for dep in ("oai%2Fmock-small", "oai%2fmock-small", "oai/mock-small"):
        r = gw.chat(body(), path=az_path(dep), headers=AZ_HEADERS)
        assert r.status == 200, (dep, r)
        assert r.header("x-moongate-provider") == "oai" and r.header("x-moongate-model") == "mock-small", dep
        assert json.loads(mock.last()["body"])["model"] == "mock-small"
    r = gw.chat(body(), path=az_path("nobody%2Fmock-small"), headers=AZ_HEADERS)
    err = assert_openai_error(r, 404)
    assert err["code"] == "model_not_found" and "'nobody/mock-small'" in err["message"], err


def test_any_api_version_or_none_and_bearer_auth(gateway, mock):
    gw = gateway(cfg(mock))
    for v in (None, "2099-12-01-preview", "", "not-a-version"):
        r = gw.chat(body(), path=az_path("mock-small", api_version=v), headers={"Authorization": "Bearer " + CLIENT_KEY})
        assert r.status == 200, (v, r)
        assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-small")
        assert_key_not_forwarded(mock.last())


AUTH_POLICY = r'''
local router = require("moongate.router")
local config
return {
  init = function(cfg) config = cfg end,
  route = function(req)
    if req:client_key() ~= "%s" then return nil, 401, "invalid client key", "invalid_api_key" end
    return router.route(req, config)
  end,
}
''' % CLIENT_KEY


def test_client_auth_accepts_api_key_and_bearer(gateway, mock):
    """A policy checking client keys (req:client_key()) accepts the `api-key`
    header and `Authorization: Bearer` alike; neither goes upstream."""
    gw = gateway(cfg(mock), policy=AUTH_POLICY)
    for hdrs in ({"api-key": CLIENT_KEY}, {"Authorization": "Bearer " + CLIENT_KEY}):
        r = gw.chat(body(), path=az_path("mock-small"), headers=hdrs)
        assert r.status == 200, (hdrs, r)
        assert_key_not_forwarded(mock.last())
        c = gw.stream(body(stream=True), path=az_path("smart"), headers=hdrs)
        c.read_all()
        assert c.status == 200 and c.saw_done, hdrs
        assert stream_text(c.events) == mock_text("claude-mock")
        assert_key_not_forwarded(mock.last())
    for hdrs in ({}, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"x-api-key": CLIENT_KEY}):
        r = gw.chat(body(), path=az_path("mock-small"), headers=hdrs)
        err = assert_openai_error(r, 401)
        assert err["type"] == "authentication_error" and err["code"] == "invalid_api_key", err
        assert set(err) >= {"message", "type", "param", "code"}, err


def test_completions_and_embeddings(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat({"prompt": "Say hello"}, path=az_path("mock-small", "/completions"), headers=AZ_HEADERS)
    assert r.status == 200, r
    assert r.json()["choices"][0]["text"] == mock_text("mock-small")
    assert mock.last()["path"] == "/v1/completions"
    r = gw.chat({"input": ["a", "b"], "encoding_format": "float"}, path=az_path("mock-embed", "/embeddings"),
                headers=AZ_HEADERS)
    assert r.status == 200, r
    assert len(r.json()["data"]) == 2
    last = mock.last()
    assert last["path"] == "/v1/embeddings" and json.loads(last["body"])["model"] == "mock-embed"
    # not translated for an Anthropic provider: a 501 in OpenAI shape
    r = gw.chat({"input": "a"}, path=az_path("smart", "/embeddings"), headers=AZ_HEADERS)
    err = assert_openai_error(r, 501)
    assert err["code"] == "not_implemented", err


def test_bad_method_is_405(gateway, mock):
    gw = gateway(cfg(mock))
    r = http_request(gw.port, "GET", az_path("mock-small"), headers=AZ_HEADERS)
    err = assert_openai_error(r, 405)
    assert r.header("allow") == "POST"
    assert err["code"] == "method_not_allowed", err


def test_unknown_sub_path_is_404(gateway, mock):
    gw = gateway(cfg(mock))
    for path in (az_path("mock-small", "/audio/speech"), az_path("", "/chat/completions"),
                 "/openai/deployments/mock-small", "/openai/chat/completions"):
        r = gw.chat(body(), path=path, headers=AZ_HEADERS)
        err = assert_openai_error(r, 404)
        assert err["code"] == "not_found" and "/openai/deployments/{model}/chat/completions" in err["message"], err
        assert r.header("x-request-id") in err["message"]


def test_openai_shaped_errors_from_the_router(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.chat(body(), path=az_path("no-such-model"), headers=AZ_HEADERS)
    err = assert_openai_error(r, 404)
    assert err["code"] == "model_not_found" and err["param"] == "model", err
    r = gw.chat("not json", path=az_path("mock-small"), headers=AZ_HEADERS)
    err = assert_openai_error(r, 400)
    assert err["code"] == "invalid_json", err
    r = gw.chat({"messages": []}, path=az_path("mock-small"), headers=AZ_HEADERS)
    assert assert_openai_error(r, 400)["code"] == "invalid_messages"
    # the /v1 route is untouched: a body model is still required there
    r = gw.chat(body(), headers=AZ_HEADERS)
    assert assert_openai_error(r, 400)["code"] == "missing_required_field"
    # and answers as before
    r = gw.chat(chat_body("mock-small"), headers=AZ_HEADERS)
    assert r.status == 200, r
