"""JSON fidelity: the body the client sent is the body the upstream gets."""
import json

from conftest import chat_body, content_events, provider

# Built by hand so the exact bytes are known: empty array and object, an integer
# beyond 2^64, a float that needs 17 digits, escaped surrogate pair, raw UTF-8,
# odd spacing, escaped slash.
TRICKY = (
    '{"model": "%s",  "messages":[{"role":"user","content":"\\ud83d\\ude00 \u00e9 \\/ \\"q\\""}],'
    '"stop":[],"metadata":{},"seed":12345678901234567890,"temperature":1.0000000000000002,'
    '"top_p":1e-7,"logit_bias":{"50256":-100},"n":1 %s}'
)


def tricky(model, tail=""):
    return (TRICKY % (model, tail)).encode("utf-8")


def cfg(mock):
    return {"providers": {"mock": provider(mock.url(), models=["mock-small", "mock-large"])}}


def test_body_reaches_the_upstream_byte_for_byte_when_nothing_needs_rewriting(gateway, mock):
    gw = gateway(cfg(mock))
    sent = tricky("mock-small")
    json.loads(sent)    # valid JSON
    r = gw.chat(sent)
    assert r.status == 200, r
    last = mock.last()
    assert last["body"].encode("utf-8") == sent


def test_stream_body_with_include_usage_already_set_is_forwarded_byte_for_byte(gateway, mock):
    gw = gateway(cfg(mock))
    sent = tricky("mock-small", ', "stream":true, "stream_options":{"include_usage":true}')
    c = gw.stream(sent)
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done
    assert mock.last()["body"].encode("utf-8") == sent


def test_rewritten_body_keeps_everything_but_the_edits(gateway, mock):
    gw = gateway(cfg(mock))
    sent = tricky("mock/mock-large", ', "stream": true')
    c = gw.stream(sent)
    c.read_all()
    c.close()
    assert c.status == 200 and c.saw_done and content_events(c.events)
    raw = mock.last()["body"]
    got = json.loads(raw)
    want = json.loads(sent)
    want["model"] = "mock-large"
    assert got.get("stream_options", {}).get("include_usage") is True
    assert got.pop("stream_options") == {"include_usage": True}
    assert got == want
    # exact values, not just equal after parsing
    for verbatim in ('[]', '{}', '12345678901234567890', '1.0000000000000002', '1e-7',
                     '\\ud83d\\ude00', '\u00e9', '\\/', '\\"q\\"', '"50256":-100'):
        assert verbatim in raw, "%r was re-encoded: %s" % (verbatim, raw)
    # key order kept
    orig_keys = list(json.loads(sent).keys())
    assert [k for k in got.keys() if k in orig_keys] == orig_keys
    assert isinstance(got["seed"], int) and got["seed"] == 12345678901234567890


def test_bare_model_with_stream_only_gains_stream_options(gateway, mock):
    gw = gateway(cfg(mock))
    sent = tricky("mock-small", ',"stream":true')
    c = gw.stream(sent)
    c.read_all()
    c.close()
    assert c.status == 200
    raw = mock.last()["body"]
    got = json.loads(raw)
    assert got.pop("stream_options") == {"include_usage": True}
    assert got == json.loads(sent)
    # apart from the inserted stream_options member, the text is the client's
    sent_s = sent.decode("utf-8")
    assert raw.startswith(sent_s[:sent_s.index('"stop"')])
    for verbatim in ('"stop":[]', '"metadata":{}', '"seed":12345678901234567890',
                     '"temperature":1.0000000000000002', '\\ud83d\\ude00 \u00e9'):
        assert verbatim in raw, "%r was re-encoded: %s" % (verbatim, raw)


def test_a_large_unedited_body_reaches_the_upstream_byte_for_byte_on_the_retry_too(gateway, mock, faults):
    # An unedited body is sent from the request's own bytes (req:_upstream_body):
    # they must still be there, whole, when the first attempt fails and the
    # retry sends them again.
    gw = gateway({"providers": {"mock": provider(faults(status=503, fail_first=1), models=["mock-small"],
                                                 retries=1, backoff={"base": 0.01, "cap": 0.02})}})
    filler = "".join("%05d \u00e9\\n" % i for i in range(60000))   # ~0.6 MB of text
    sent = tricky("mock-small", ',"user":"%s"' % filler)
    r = gw.chat(sent)
    assert r.status == 200, r
    assert r.header("x-moongate-attempts") == "2"
    assert mock.last()["body"].encode("utf-8") == sent


def test_a_policy_that_read_the_body_still_relays_it_byte_for_byte(gateway, mock):
    policy = (
        'local router = require("moongate.router")\n'
        'local config\n'
        'return {\n'
        '  init = function(cfg) config = cfg end,\n'
        '  route = function(req)\n'
        '    if #req:body() == 0 or req:json().seed == nil then return nil, 400, "no seed" end\n'
        '    return router.route(req, config)\n'
        '  end,\n'
        '}\n')
    gw = gateway(cfg(mock), policy=policy)
    sent = tricky("mock-small")
    r = gw.chat(sent)
    assert r.status == 200, r
    assert mock.last()["body"].encode("utf-8") == sent
