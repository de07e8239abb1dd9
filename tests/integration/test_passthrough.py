"""Other /v1/* endpoints are relayed to the chosen OpenAI-kind provider unchanged."""
import json

from conftest import http_request, provider

RESPONSES_BODY = b'{"model":"mock-small","input":[],"metadata":{},"n":12345678901234567890}'


def cfg(mock):
    return {"providers": {"mock": provider(mock.url(), models=["mock-small"]),
                          "other": provider(mock.url(), models=["other-model"], api_key="other-key")}}


def test_unknown_v1_post_reaches_the_provider_with_the_body_untouched(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("POST", "/v1/responses", RESPONSES_BODY, {"Content-Type": "application/json"})
    last = mock.last()
    assert last["method"] == "POST"
    assert last["path"] == "/v1/responses"
    assert last["body"].encode() == RESPONSES_BODY
    assert last["headers"]["authorization"] == "Bearer k"
    # the mock does not serve /v1/responses: its own 404 comes back as it sent it
    assert r.status == 404, r
    assert r.header("x-moongate-provider") == "mock"
    assert "error" in r.json()


def test_passthrough_get_keeps_the_query_and_follows_routeur_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = gw.request("GET", "/v1/files?purpose=batch&limit=2", None, {"Routeur-Provider": "other"})
    last = mock.last()
    assert last["method"] == "GET"
    assert last["path"] == "/v1/files?purpose=batch&limit=2"
    assert last["headers"]["authorization"] == "Bearer other-key"
    assert r.header("x-moongate-provider") == "other"


def test_passthrough_upstream_reply_is_relayed_exactly(gateway, mock):
    gw = gateway(cfg(mock))
    body = b'{"model":"mock-small","input":"hello","voice":"alloy"}'
    r = gw.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
    last = mock.last()
    assert last["path"] == "/v1/audio/speech" and last["body"].encode() == body
    direct = http_request(mock.port, "POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
    assert r.status == direct.status
    assert r.body == direct.body
    assert r.header("content-type") == direct.header("content-type")
