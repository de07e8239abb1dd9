"""OpenAI embeddings through the real binary: a Gemini provider gets them translated to
batchEmbedContents and the vectors come back with the provider's own digits; an Anthropic provider
(no embeddings API) still answers 501, not to be retried; OpenAI providers are relayed untouched."""
import base64
import json
import re
import struct

from conftest import assert_openai_error, http_request, provider

GEM_MODEL = "gem-embed"
NUMBER = rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"


def root(url):
    """Host-root base URL (the Gemini kind appends /v1beta/models/...)."""
    return url[:-len("/v1")]


def cfg(mock, gem_base=None, **extra):
    providers = {
        "oai": provider(mock.url(), models=["mock-embed"]),
        "gem": dict(provider(root(gem_base or mock.url()), models=[GEM_MODEL], api_key="gem-key"), kind="gemini"),
        "ant": dict(provider(root(mock.url()), models=["claude-mock"], api_key="ant-key"), kind="anthropic"),
    }
    providers.update(extra)
    return {"providers": providers}


def embed(gw, body, path="/v1/embeddings", headers=None):
    return gw.request("POST", path, json.dumps(body).encode(), headers or {"Content-Type": "application/json"})


def vectors(raw):
    """The number texts of each "embedding": [...] / "values": [...] array, as bytes."""
    arrays = re.findall(rb'"(?:embedding|values)"\s*:\s*\[([^\]]*)\]', raw)
    return [re.findall(NUMBER, a) for a in arrays]


def mock_reply(mock, sent):
    """What the mock answers to the request the gateway sent it (its raw bytes)."""
    r = http_request(mock.port, "POST", sent["path"], body=sent["body"].encode(),
                     headers={"x-goog-api-key": "gem-key", "Content-Type": "application/json"})
    assert r.status == 200, r
    return r.body


def test_openai_client_gets_gemini_embeddings_with_every_digit(gateway, mock):
    gw = gateway(cfg(mock))
    r = embed(gw, {"model": GEM_MODEL, "input": ["hello", "brave new world"], "dimensions": 6, "user": "u-1"})
    assert r.status == 200, r
    assert r.header("x-moongate-provider") == "gem"
    doc = r.json()
    assert doc["object"] == "list" and doc["model"] == GEM_MODEL
    assert [d["index"] for d in doc["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 6 for d in doc["data"])
    # usage: Gemini reports none; the estimate is one token per 4 bytes of each input, rounded up
    assert doc["usage"] == {"prompt_tokens": 2 + 4, "total_tokens": 6}

    sent = mock.last()
    assert sent["path"] == "/v1beta/models/%s:batchEmbedContents" % GEM_MODEL
    assert sent["headers"]["x-goog-api-key"] == "gem-key"
    assert json.loads(sent["body"]) == {"requests": [
        {"model": "models/" + GEM_MODEL, "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 6},
        {"model": "models/" + GEM_MODEL, "content": {"parts": [{"text": "brave new world"}]},
         "outputDimensionality": 6}]}

    # the numbers are the mock's own texts, byte for byte (17 significant digits survive)
    upstream = vectors(mock_reply(mock, sent))
    assert vectors(r.body) == upstream
    digits = [len(re.sub(rb"[^0-9]", b"", n.split(b"e")[0].lstrip(b"-0."))) for v in upstream for n in v]
    assert max(digits) == 17, upstream
    assert any(b"e-" in n for v in upstream for n in v), "some values carry an exponent"

    line = gw.access_for(r.header("x-request-id"))
    assert line["route"] == "embeddings" and line["provider"] == "gem"
    assert line["prompt_tokens"] == 6 and line["status"] == 200, line


def test_a_single_string_and_the_default_dimensions(gateway, mock):
    gw = gateway(cfg(mock))
    r = embed(gw, {"model": GEM_MODEL, "input": "caf\u00e9 \u2603"})
    assert r.status == 200, r
    assert len(r.json()["data"]) == 1 and len(r.json()["data"][0]["embedding"]) == 8
    sent = json.loads(mock.last()["body"])
    assert sent["requests"][0]["content"]["parts"][0]["text"] == "caf\u00e9 \u2603"
    assert "outputDimensionality" not in sent["requests"][0]


def test_base64_is_float32_little_endian_like_openai(gateway, mock):
    gw = gateway(cfg(mock))
    r = embed(gw, {"model": GEM_MODEL, "input": ["a", "b"], "encoding_format": "base64"})
    assert r.status == 200, r
    upstream = vectors(mock_reply(mock, mock.last()))
    for d, nums in zip(r.json()["data"], upstream):
        raw = base64.b64decode(d["embedding"])
        assert raw == struct.pack("<%df" % len(nums), *[float(n) for n in nums])


def test_azure_style_embeddings_reach_the_gemini_provider(gateway, mock):
    gw = gateway(cfg(mock))
    r = embed(gw, {"input": ["x"]}, path="/openai/deployments/%s/embeddings?api-version=2024-10-21" % GEM_MODEL,
              headers={"api-key": "client-key", "Content-Type": "application/json"})
    assert r.status == 200, r
    assert r.json()["data"][0]["object"] == "embedding"
    assert vectors(r.body) == vectors(mock_reply(mock, mock.last()))
    assert mock.last()["path"].endswith(":batchEmbedContents")
    assert "client-key" not in json.dumps(mock.last()["headers"]), "the client's key never goes upstream"


def test_token_arrays_are_refused_before_any_upstream(gateway, mock):
    gw = gateway(cfg(mock))
    before = mock.stats()["requests"]
    for inp in ([1, 2, 3], [[1, 2], [3]]):
        r = embed(gw, {"model": GEM_MODEL, "input": inp})
        err = assert_openai_error(r, 400)
        assert err["type"] == "invalid_request_error" and err["param"] == "input", err
        assert "token arrays cannot be translated" in err["message"], err
        assert r.header("x-request-id") in err["message"]
    assert mock.stats()["requests"] == before


def test_upstream_errors_come_back_in_openai_shape(gateway, mock, faults):
    gw = gateway(cfg(mock))
    # the mock refuses an outputDimensionality above 3072 (400 INVALID_ARGUMENT)
    r = embed(gw, {"model": GEM_MODEL, "input": "x", "dimensions": 5000})
    err = assert_openai_error(r, 400)
    assert err["type"] == "invalid_request_error" and "output_dimensionality" in err["message"], err
    assert err["code"] is None, "Gemini's numeric code is not an OpenAI code"
    # a fault status from the Gemini provider
    gw = gateway(cfg(mock, gem_base=faults(status=403)))
    r = embed(gw, {"model": GEM_MODEL, "input": "x"})
    err = assert_openai_error(r, 403)
    assert err["type"] == "permission_denied" and err["message"] == "mock fault: status 403", err


def test_anthropic_provider_still_answers_501_not_to_be_retried(gateway, mock):
    gw = gateway(cfg(mock))
    before = mock.stats()["requests"]
    for path in ("/v1/embeddings", "/openai/deployments/claude-mock/embeddings"):
        r = embed(gw, {"model": "claude-mock", "input": "x"}, path=path)
        err = assert_openai_error(r, 501)
        assert err["code"] == "not_implemented", err
        assert r.header("x-should-retry") == "false"
    assert mock.stats()["requests"] == before


def test_openai_provider_is_still_relayed_untouched(gateway, mock):
    gw = gateway(cfg(mock))
    body = b'{"model":"mock-embed","input":[[1,2],[3]],"encoding_format":"base64"}'
    r = gw.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
    assert r.status == 200, r
    last = mock.last()
    assert last["path"] == "/v1/embeddings" and last["body"] == body.decode()
    direct = http_request(mock.port, "POST", "/v1/embeddings", body=body, headers={"Authorization": "Bearer k"})
    assert r.body == direct.body
