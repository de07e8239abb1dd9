"""Which provider and model a request goes to, and the errors for bad requests."""
import json

from conftest import (assert_openai_error, chat_body, closed_port, mock_text, provider)


def two_providers(mock, faults):
    """`mock` on the plain mock and `second` on a tagged fault URL, both serving
    mock-small and mock-large; `big` is the only one serving mock-huge."""
    second = faults()
    big = faults()
    cfg = {"providers": {
        "mock": provider(mock.url(), models=["mock-small", "mock-large"]),
        "second": provider(second, models=["mock-small", "mock-large"]),
        "big": provider(big, models=["mock-huge"]),
    }}
    return cfg, second, big


def path_of(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_routeur_headers_beat_the_body_model(gateway, mock, faults):
    cfg, second, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("mock-small"), headers={"Routeur-Provider": "second", "Routeur-Model": "mock-large"})
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert r.header("x-moongate-model") == "mock-large"
    last = mock.last()
    assert last["path"] == path_of(second) + "/chat/completions"
    assert json.loads(last["body"])["model"] == "mock-large"
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-large")


def test_routeur_model_header_alone_beats_the_body_model(gateway, mock, faults):
    cfg, _, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("mock-small"), headers={"Routeur-Model": "mock-large"})
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-large"
    assert json.loads(mock.last()["body"])["model"] == "mock-large"


def test_routeur_provider_header_alone_picks_the_provider(gateway, mock, faults):
    cfg, second, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("mock-small"), headers={"Routeur-Provider": "second"})
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert r.header("x-moongate-model") == "mock-small"
    assert mock.last()["path"] == path_of(second) + "/chat/completions"


def test_bare_model_id_goes_to_the_provider_serving_it(gateway, mock, faults):
    cfg, _, big = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("mock-huge"))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "big"
    assert r.header("x-moongate-model") == "mock-huge"
    assert mock.last()["path"] == path_of(big) + "/chat/completions"


def test_provider_slash_model_sends_the_model_without_prefix(gateway, mock, faults):
    cfg, second, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("second/mock-large"))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert r.header("x-moongate-model") == "mock-large"
    last = mock.last()
    assert last["path"] == path_of(second) + "/chat/completions"
    assert json.loads(last["body"])["model"] == "mock-large"


def test_vendor_query_argument_selects_the_provider(gateway, mock, faults):
    cfg, second, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("mock-small"), path="/v1/chat/completions?vendor=second")
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert mock.last()["path"] == path_of(second) + "/chat/completions"
    r = gw.chat(chat_body("mock-small"), path="/v1/chat/completions?vendor=mock")
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "mock"


def test_alias_routes_to_its_first_target(gateway, mock, faults):
    cfg, _, _ = two_providers(mock, faults)
    cfg["aliases"] = {"auto": [{"provider": "second", "model": "mock-large"}]}
    gw = gateway(cfg)
    r = gw.chat(chat_body("auto"))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert r.header("x-moongate-model") == "mock-large"
    assert json.loads(mock.last()["body"])["model"] == "mock-large"


def test_alias_with_several_targets_falls_back_to_the_next(gateway, mock, faults):
    cfg, _, _ = two_providers(mock, faults)
    cfg["providers"]["flaky"] = provider(faults(status=500), models=["mock-small"], retries=0)
    cfg["providers"]["dead"] = provider("http://127.0.0.1:%d/v1" % closed_port(), models=["mock-small"],
                                        retries=0)
    cfg["aliases"] = {"smart": [{"provider": "flaky", "model": "mock-small"},
                                {"provider": "dead", "model": "mock-small", "weight": 0},
                                {"provider": "second", "model": "mock-large", "weight": 0}]}
    gw = gateway(cfg)
    r = gw.chat(chat_body("smart"))
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "second"
    assert r.header("x-moongate-model") == "mock-large"
    assert r.header("x-moongate-attempts") == "3"
    assert r.json()["choices"][0]["message"]["content"] == mock_text("mock-large")


def test_unknown_model_is_404_listing_the_models(gateway, mock, faults):
    cfg, _, _ = two_providers(mock, faults)
    gw = gateway(cfg)
    r = gw.chat(chat_body("gpt-nonexistent"))
    err = assert_openai_error(r, 404)
    assert "gpt-nonexistent" in err["message"]
    for m in ("mock-small", "mock-large", "mock-huge"):
        assert m in err["message"], err
    assert r.header("x-request-id")


def test_bad_json_is_400(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}})
    r = gw.chat(b'{"model": "mock-small", "messages": [')
    assert_openai_error(r, 400)


def test_missing_model_is_400(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}})
    r = gw.chat({"messages": [{"role": "user", "content": "hi"}]})
    err = assert_openai_error(r, 400)
    assert "model" in err["message"].lower()


def test_unknown_path_is_404_in_openai_envelope(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url())}})
    r = gw.request("GET", "/definitely/not/here")
    assert_openai_error(r, 404)


# -- the body's routing fields, read without decoding it (runtime/peek.c) --

def test_an_escaped_model_routes_and_the_body_is_relayed_as_sent(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url(), models=["mock-small"])}})
    sent = b'{"model":"mock-sm\\u0061ll","messages":[{"role":"user","content":"hi"}]}'
    r = gw.chat(sent)
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-small"
    assert mock.last()["body"] == sent.decode()   # same model once decoded: no edit


def test_duplicate_members_the_last_one_counts_as_when_decoded(gateway, mock, faults):
    # lax: the strict mock reads the first of duplicate members (the gateway, like cjson, the last)
    gw = gateway({"providers": {"mock": provider(faults(lax=1), models=["mock-small"])}})
    r = gw.chat(b'{"model":"nope","messages":[{"role":"user","content":"x"}],"model":"mock-small"}')
    assert r.status == 200, r
    assert r.header("x-moongate-model") == "mock-small"
    r = gw.chat(b'{"model":"mock-small","messages":[{"role":"user","content":"x"}],"model":null}')
    assert_openai_error(r, 400)
    assert r.json()["error"]["param"] == "model"
    r = gw.chat(b'{"model":"mock-small","messages":[{"role":"user","content":"x"}],"messages":{}}')
    assert_openai_error(r, 400)
    assert r.json()["error"]["code"] == "invalid_messages"


def test_stream_flag_and_include_usage_are_read_off_the_raw_body(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url(), models=["mock-small"])}})
    sent = (b'{ "model" : "mock-small" , "messages" : [ {"role":"user","content":"x"} ] ,'
            b' "stream_options" : { "include_usage" : false } ,\r\n\t"stream" : true }')
    s = gw.stream(sent)
    assert s.status == 200, s.status
    s.read_all()
    s.close()
    events = s.events
    assert events[-1].data == "[DONE]"
    # include_usage false: the gateway asked for usage upstream and hid that chunk
    assert not any(e.data != "[DONE]" and json.loads(e.data).get("usage") for e in events)
    up = json.loads(mock.last()["body"])
    assert up["stream_options"]["include_usage"] is True and up["stream"] is True


def test_invalid_json_says_where(gateway, mock):
    gw = gateway({"providers": {"mock": provider(mock.url(), models=["mock-small"])}})
    before = mock.stats()["requests"]
    for body, at in ((b'{"model":"mock-small","messages":[1,]}', 36), (b'{"model":"mock-small"} {}', 23),
                     (b'{"model":"mock-small","messages":[{"content":"\\ud800"}]}', 46)):
        r = gw.chat(body)
        assert_openai_error(r, 400)
        err = r.json()["error"]
        assert err["code"] == "invalid_json", err
        assert f"at byte {at}" in err["message"], err
    assert mock.stats()["requests"] == before
