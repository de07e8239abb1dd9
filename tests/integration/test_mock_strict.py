"""The mock provider is as strict as the real APIs (mock/validate*.c).

Part 1, straight to the mock: for each rule, a body that breaks it is refused
in the dialect's own error shape and status (OpenAI 400 invalid_request_error
with param and code, Anthropic 400 invalid_request_error, Gemini 400
INVALID_ARGUMENT), the same body passes under the fault key `lax=1`, and the
valid body it was derived from passes.

Part 2, through the gateway: one rich conversation (system prompt, a user turn
with text and an image, tools with nested schemas, an assistant turn with two
tool calls and their results, a follow-up user turn, stop sequences, a JSON
schema response format, sampling) sent by an OpenAI, an Anthropic and a Gemini
client to every provider kind, stream and not. The strict mock answers 200 only
if the gateway's upstream request is one the real API would take.
"""
import copy
import json

import pytest

from conftest import SSEClient, http_request, provider

ANT_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GEM_HEADERS = {"x-goog-api-key": "k"}
OAI_HEADERS = {"Authorization": "Bearer k"}

# --------------------------------------------------------------------------
# Part 1: each rule, straight to the mock
# --------------------------------------------------------------------------

OAI_VALID = {
    "model": "mock-small",
    "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather",
                                                "parameters": {"type": "object", "properties": {}}}}],
    "temperature": 1.5, "n": 1, "stop": ["END"],
}


def oai(mutate):
    b = copy.deepcopy(OAI_VALID)
    mutate(b)
    return b


def _pop(key):
    return lambda b: b.pop(key)


def _set(key, value):
    return lambda b: b.__setitem__(key, value)


def _msg(i, **kv):
    def f(b):
        for k, v in kv.items():
            if v is _DEL:
                b["messages"][i].pop(k, None)
            else:
                b["messages"][i][k] = v
    return f


_DEL = object()

# (id, body, message substring, param, code)
OPENAI_CASES = [
    ("no_model", oai(_pop("model")), "model parameter", "model", None),
    ("no_messages", oai(_pop("messages")), "Missing required parameter: 'messages'", "messages",
     "missing_required_parameter"),
    ("empty_messages", oai(_set("messages", [])), "empty array", "messages", "empty_array"),
    ("bad_role", oai(_msg(0, role="robot")), "Invalid value: 'robot'", "messages[0].role", "invalid_value"),
    ("user_without_content", oai(_msg(4, content=_DEL)), "Missing required parameter",
     "messages[4].content", "missing_required_parameter"),
    ("unknown_part", oai(lambda b: b["messages"][1]["content"].append({"type": "video"})),
     "Invalid value: 'video'", "messages[1].content[2].type", "invalid_value"),
    ("assistant_null_without_calls", oai(_msg(2, tool_calls=_DEL)), "expected a string, got null",
     "messages[2].content", None),
    ("arguments_object", oai(lambda b: b["messages"][2]["tool_calls"][0]["function"].__setitem__(
        "arguments", {"city": "Paris"})), "expected a string", "messages[2].tool_calls[0].function.arguments",
     "invalid_type"),
    ("tool_call_without_id", oai(lambda b: b["messages"][2]["tool_calls"][0].pop("id")),
     "Missing required parameter", "messages[2].tool_calls[0].id", None),
    ("tool_call_bad_type", oai(lambda b: b["messages"][2]["tool_calls"][0].__setitem__("type", "fn")),
     "Invalid value: 'fn'", "messages[2].tool_calls[0].type", "invalid_value"),
    ("tool_without_tool_call_id", oai(_msg(3, tool_call_id=_DEL)), "Missing required parameter",
     "messages[3].tool_call_id", None),
    ("tool_unknown_id", oai(_msg(3, tool_call_id="call_9")), "'call_9' not found", "messages.[3].role", None),
    ("tool_without_calls", oai(lambda b: b["messages"].insert(1, {"role": "tool", "tool_call_id": "c",
                                                                    "content": "x"})),
     "must be a response to a preceeding message with 'tool_calls'", "messages.[1].role", None),
    ("call_unanswered", oai(lambda b: b["messages"].pop(3)), "did not have response messages: call_1",
     "messages.[2].role", None),
    ("temperature_above_2", oai(_set("temperature", 2.5)), "Expected a value <= 2", "temperature",
     "decimal_above_max_value"),
    ("n_zero", oai(_set("n", 0)), "Expected a value >= 1", "n", "integer_below_min_value"),
    ("top_p_above_1", oai(_set("top_p", 1.5)), "Expected a value <= 1", "top_p", "decimal_above_max_value"),
    ("stop_five", oai(_set("stop", ["a", "b", "c", "d", "e"])), "array too long", "stop",
     "array_above_max_length"),
    ("stream_options_without_stream", oai(_set("stream_options", {"include_usage": True})),
     "only allowed when 'stream' is enabled", "stream_options", None),
    ("tool_choice_without_tools", oai(lambda b: (b.pop("tools"), b.__setitem__("tool_choice", "auto"))),
     "only allowed when 'tools' are specified", "tool_choice", None),
    ("parallel_without_tools", oai(lambda b: (b.pop("tools"), b.__setitem__("parallel_tool_calls", False))),
     "only allowed when 'tools' are specified", "parallel_tool_calls", None),
    ("tool_bad_name", oai(lambda b: b["tools"][0]["function"].__setitem__("name", "get weather")),
     "does not match pattern", "tools[0].function.name", "invalid_value"),
    ("json_schema_without_name", oai(_set("response_format", {"type": "json_schema",
                                                              "json_schema": {"schema": {}}})),
     "Missing required parameter", "response_format.json_schema.name", None),
    ("bad_response_format", oai(_set("response_format", {"type": "yaml"})), "Invalid value: 'yaml'",
     "response_format.type", "invalid_value"),
    ("max_tokens_zero", oai(_set("max_tokens", 0)), "Expected a value >= 1", "max_tokens", None),
]

ANT_VALID = {
    "model": "claude-mock", "max_tokens": 64, "system": [{"type": "text", "text": "Be terse."}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": "iVBORw0KGgo="}}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                                     {"type": "text", "text": "Thanks"}]},
    ],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    "tool_choice": {"type": "auto"}, "temperature": 0.5, "stop_sequences": ["END"],
}


def ant(mutate, base=ANT_VALID):
    b = copy.deepcopy(base)
    mutate(b)
    return b


def _block(i, k, **kv):
    def f(b):
        for key, v in kv.items():
            if v is _DEL:
                b["messages"][i]["content"][k].pop(key, None)
            else:
                b["messages"][i]["content"][k][key] = v
    return f


ANTHROPIC_CASES = [
    ("no_model", ant(_pop("model")), "model: Field required"),
    ("no_max_tokens", ant(_pop("max_tokens")), "max_tokens: Field required"),
    ("max_tokens_zero", ant(_set("max_tokens", 0)), "max_tokens: Input should be greater than or equal to 1"),
    ("max_tokens_float", ant(_set("max_tokens", 1.5)), "max_tokens: Input should be a valid integer"),
    ("no_messages", ant(_pop("messages")), "messages: Field required"),
    ("empty_messages", ant(_set("messages", [])), "at least one message"),
    ("system_role", ant(lambda b: b["messages"].insert(0, {"role": "system", "content": "x"})),
     "messages.0.role: Input should be 'user' or 'assistant'"),
    ("system_object", ant(_set("system", {"text": "x"})), "system: Input should be a valid list"),
    ("system_image_block", ant(_set("system", [{"type": "image", "source": {}}])),
     "system.0.type: Input should be 'text'"),
    ("unknown_top_level", ant(_set("frequency_penalty", 0.5)),
     "frequency_penalty: Extra inputs are not permitted"),
    ("unknown_block", ant(lambda b: b["messages"][0]["content"].append({"type": "video"})),
     "messages.0.content.2: Input tag 'video'"),
    ("empty_text_block", ant(_block(0, 0, text="")), "text content blocks must be non-empty"),
    ("empty_content", ant(lambda b: b["messages"][0].__setitem__("content", "")),
     "messages.0: all messages must have non-empty content"),
    ("image_bad_media_type", ant(lambda b: b["messages"][0]["content"][1]["source"].__setitem__(
        "media_type", "image/bmp")), "media_type: Input should be 'image/jpeg'"),
    ("image_bad_source", ant(lambda b: b["messages"][0]["content"][1].__setitem__("source", {"type": "path"})),
     "source: Input tag 'path'"),
    ("tool_use_input_string", ant(_block(1, 1, input="{\"city\":\"Paris\"}")),
     "messages.1.content.1.tool_use.input: Input should be a valid dictionary"),
    ("tool_use_without_id", ant(_block(1, 1, id=_DEL)), "messages.1.content.1.tool_use.id: Field required"),
    ("tool_use_in_user_turn", ant(lambda b: b["messages"][0]["content"].append(
        {"type": "tool_use", "id": "toolu_9", "name": "x", "input": {}})), "can only be in `assistant` messages"),
    ("tool_result_without_id", ant(_block(2, 0, tool_use_id=_DEL)), "tool_use_id: Field required"),
    ("tool_result_unknown_id", ant(_block(2, 0, tool_use_id="toolu_9")),
     "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"),
    ("tool_result_not_first", ant(lambda b: b["messages"][2]["content"].reverse()),
     "`tool_use` ids were found without `tool_result` blocks immediately after"),
    ("tool_result_without_tool_use", ant(lambda b: b["messages"][1]["content"].pop(1)),
     "unexpected `tool_use_id` found in `tool_result` blocks: toolu_1"),
    ("tool_result_later_turn", ant(lambda b: b["messages"].extend([
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}])),
     "messages.4.content.0: unexpected `tool_use_id`"),
    ("tool_without_input_schema", ant(lambda b: b["tools"][0].pop("input_schema")),
     "tools.0.custom.input_schema: Field required"),
    ("input_schema_not_object", ant(lambda b: b["tools"][0]["input_schema"].__setitem__("type", "array")),
     "tools.0.custom.input_schema.type: Input should be 'object'"),
    ("tool_without_name", ant(lambda b: b["tools"][0].pop("name")), "tools.0.custom.name: Field required"),
    ("tool_extra_member", ant(lambda b: b["tools"][0].__setitem__("parameters", {})),
     "tools.0.custom.parameters: Extra inputs are not permitted"),
    ("duplicate_tools", ant(lambda b: b["tools"].append(copy.deepcopy(b["tools"][0]))),
     "Tool names must be unique"),
    ("tool_choice_required", ant(_set("tool_choice", {"type": "required"})),
     "tool_choice: Input tag 'required'"),
    ("tool_choice_string", ant(_set("tool_choice", "auto")), "tool_choice: Input should be a valid dictionary"),
    ("tool_choice_tool_without_name", ant(_set("tool_choice", {"type": "tool"})),
     "tool_choice.tool.name: Field required"),
    ("tool_choice_none_parallel", ant(_set("tool_choice", {"type": "none", "disable_parallel_tool_use": True})),
     "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"),
    ("temperature_above_1", ant(_set("temperature", 1.5)), "temperature: Input should be less than or equal to 1"),
    ("stop_sequences_string", ant(_set("stop_sequences", "END")), "stop_sequences: Input should be a valid list"),
    ("stop_sequences_number", ant(_set("stop_sequences", ["a", 1])), "stop_sequences.1: Input should be a valid string"),
    ("thinking_small_budget", ant(_set("thinking", {"type": "enabled", "budget_tokens": 100})),
     "greater than or equal to 1024"),
    ("thinking_budget_over_max", ant(_set("thinking", {"type": "enabled", "budget_tokens": 2048})),
     "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ("stream_string", ant(_set("stream", "yes")), "stream: Input should be a valid boolean"),
    ("message_extra_member", ant(_msg(0, name="bob")), "messages.0.name: Extra inputs are not permitted"),
]

ANT_COUNT_VALID = {k: v for k, v in ANT_VALID.items() if k not in ("max_tokens", "temperature", "stop_sequences")}

ANTHROPIC_COUNT_CASES = [
    ("max_tokens", ant(_set("max_tokens", 10), ANT_COUNT_VALID), "max_tokens: Extra inputs are not permitted"),
    ("stream", ant(_set("stream", True), ANT_COUNT_VALID), "stream: Extra inputs are not permitted"),
    ("temperature", ant(_set("temperature", 0.5), ANT_COUNT_VALID), "temperature: Extra inputs are not permitted"),
    ("no_messages", ant(_pop("messages"), ANT_COUNT_VALID), "messages: Field required"),
    ("system_role", ant(lambda b: b["messages"].insert(0, {"role": "system", "content": "x"}), ANT_COUNT_VALID),
     "Input should be 'user' or 'assistant'"),
    ("tool_result_unknown_id", ant(_block(2, 0, tool_use_id="toolu_9"), ANT_COUNT_VALID),
     "`tool_use` ids were found without `tool_result` blocks"),
]

GEM_SCHEMA = {"type": "OBJECT", "properties": {"city": {"type": "STRING"},
                                               "units": {"type": "OBJECT", "properties": {
                                                   "temp": {"type": "STRING", "enum": ["C", "F"]}}}},
              "required": ["city"]}
GEM_VALID = {
    "systemInstruction": {"parts": [{"text": "Be terse."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Weather?"},
                                   {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ],
    "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": GEM_SCHEMA}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {"temperature": 0.5, "stopSequences": ["END"], "maxOutputTokens": 100,
                         "responseMimeType": "application/json",
                         "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}},
}


def gem(mutate):
    b = copy.deepcopy(GEM_VALID)
    mutate(b)
    return b


def _params(mutate):
    return lambda b: mutate(b["tools"][0]["functionDeclarations"][0]["parameters"])


def _gen(key, value):
    return lambda b: b["generationConfig"].__setitem__(key, value)


GEMINI_CASES = [
    ("no_contents", gem(_pop("contents")), "contents is not specified"),
    ("empty_contents", gem(_set("contents", [])), "contents is not specified"),
    ("bad_role", gem(lambda b: b["contents"][0].__setitem__("role", "assistant")), "Please use a valid role: user, model."),
    ("system_role", gem(lambda b: b["contents"][0].__setitem__("role", "system")), "Please use a valid role"),
    ("empty_parts", gem(lambda b: b["contents"][3].__setitem__("parts", [])),
     "contents[3].parts: contents.parts must not be empty."),
    ("no_parts", gem(lambda b: b["contents"][3].pop("parts")), "contents.parts must not be empty."),
    ("empty_part", gem(lambda b: b["contents"][3]["parts"].append({})),
     "contents[3].parts[1].data: required oneof field 'data' must have one initialized field"),
    ("two_data_members", gem(lambda b: b["contents"][3]["parts"][0].__setitem__("inlineData", {"mimeType": "image/png", "data": "AA=="})),
     "oneof field 'data' is already set"),
    ("unknown_part_member", gem(lambda b: b["contents"][3]["parts"][0].__setitem__("image", "x")),
     "Unknown name \"image\" at 'contents[3].parts[0]': Cannot find field."),
    ("unknown_top_level", gem(_set("temperature", 0.5)), "Unknown name \"temperature\": Cannot find field."),
    ("unknown_generation_config", gem(_gen("max_tokens", 5)),
     "Unknown name \"max_tokens\" at 'generation_config': Cannot find field."),
    ("unknown_tool_member", gem(lambda b: b["tools"][0].__setitem__("type", "function")),
     "Unknown name \"type\" at 'tools[0]'"),
    ("additional_properties", gem(_params(lambda p: p.__setitem__("additionalProperties", False))),
     "Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters': Cannot find field."),
    ("schema_keyword", gem(_params(lambda p: p.__setitem__("$schema", "http://json-schema.org/draft-07/schema#"))),
     "Unknown name \"$schema\""),
    ("nested_additional_properties", gem(_params(lambda p: p["properties"]["units"].__setitem__("additionalProperties", False))),
     "at 'tools[0].function_declarations[0].parameters.properties[1].value'"),
    ("type_list", gem(_params(lambda p: p["properties"]["city"].__setitem__("type", ["string", "null"]))),
     "Proto field is not repeating, cannot start list."),
    ("bad_type_name", gem(_params(lambda p: p["properties"]["city"].__setitem__("type", "text"))),
     "Invalid value at 'tools[0].function_declarations[0].parameters.properties[0].value.type'"),
    ("object_without_properties", gem(_params(lambda p: p["properties"]["units"].pop("properties"))),
     "properties: should be non-empty for OBJECT type"),
    ("required_undefined", gem(_params(lambda p: p.__setitem__("required", ["country"]))),
     "parameters.required[0]: property is not defined"),
    ("bad_function_name", gem(lambda b: b["tools"][0]["functionDeclarations"][0].__setitem__("name", "get weather")),
     "Invalid function name"),
    ("decl_extra_member", gem(lambda b: b["tools"][0]["functionDeclarations"][0].__setitem__("strict", True)),
     "Unknown name \"strict\" at 'tools[0].function_declarations[0]'"),
    ("bad_mime_type", gem(_gen("responseMimeType", "application/yml")), "allowed mimetypes are"),
    ("schema_without_json_mime", gem(lambda b: b["generationConfig"].pop("responseMimeType")),
     "response_mime_type must be one of"),
    ("too_many_stop_sequences", gem(_gen("stopSequences", ["a", "b", "c", "d", "e", "f"])),
     "stop_sequences"),
    ("temperature_above_2", gem(_gen("temperature", 3)), "generation_config.temperature"),
    ("thinking_budget_and_level", gem(_gen("thinkingConfig", {"thinkingBudget": 10, "thinkingLevel": "low"})),
     "mutually exclusive"),
    ("response_without_call", gem(lambda b: b["contents"].pop(1)),
     "function response turn comes immediately after a function call turn"),
    ("response_name_mismatch", gem(lambda b: b["contents"][2]["parts"][0]["functionResponse"].__setitem__("name", "get_time")),
     "function_response.name"),
    ("response_count_mismatch", gem(lambda b: b["contents"][2]["parts"].append(
        {"functionResponse": {"name": "get_weather", "response": {}}})),
     "number of function response parts is equal to the number of function call parts"),
    ("call_first", gem(lambda b: b["contents"].pop(0)),
     "function call turn comes immediately after a user turn"),
    ("function_call_without_name", gem(lambda b: b["contents"][1]["parts"][0]["functionCall"].pop("name")),
     "function_call.name: Name cannot be empty."),
    ("response_not_object", gem(lambda b: b["contents"][2]["parts"][0]["functionResponse"].__setitem__("response", "18C")),
     "google.protobuf.Struct"),
    ("args_string", gem(lambda b: b["contents"][1]["parts"][0]["functionCall"].__setitem__("args", "{}")),
     "function_call.args"),
    ("inline_data_not_base64", gem(lambda b: b["contents"][0]["parts"][1]["inlineData"].__setitem__("data", "not base64!")),
     "inline_data.data' (TYPE_BYTES)"),
    ("system_instruction_string", gem(_set("systemInstruction", "Be terse.")), "system_instruction"),
    ("allowed_names_with_auto", gem(lambda b: b["toolConfig"]["functionCallingConfig"].__setitem__(
        "allowedFunctionNames", ["get_weather"])), "allowed_function_names"),
    ("bad_mode", gem(lambda b: b["toolConfig"]["functionCallingConfig"].__setitem__("mode", "REQUIRED")),
     "function_calling_config.mode"),
]

GEMINI_COUNT_CASES = [
    ("system_instruction_top_level", {"contents": GEM_VALID["contents"][:1],
                                      "systemInstruction": GEM_VALID["systemInstruction"]},
     "Unknown name \"systemInstruction\": Cannot find field."),
    ("bad_model_name", {"generateContentRequest": {"model": "gemini-mock", "contents": GEM_VALID["contents"][:1]}},
     "unexpected model name format"),
    ("inner_unknown_member", {"generateContentRequest": dict(copy.deepcopy(GEM_VALID), model="models/g", stream=True)},
     "Unknown name \"stream\" at 'generate_content_request'"),
    ("inner_role", {"generateContentRequest": {"model": "models/g", "contents": [{"role": "bot", "parts": [{"text": "x"}]}]}},
     "Please use a valid role"),
    ("empty_parts", {"contents": [{"role": "user", "parts": []}]}, "contents.parts must not be empty."),
]


def _direct(mock, dialect, body, pre="", count=False):
    if dialect == "openai":
        return http_request(mock.port, "POST", pre + "/v1/chat/completions", body, OAI_HEADERS)
    if dialect == "anthropic":
        path = "/v1/messages/count_tokens" if count else "/v1/messages"
        return http_request(mock.port, "POST", pre + path, body, ANT_HEADERS)
    method = "countTokens" if count else "generateContent"
    return http_request(mock.port, "POST", "%s/v1beta/models/gemini-mock:%s" % (pre, method), body, GEM_HEADERS)


# What the mock checks even under lax=1 (it needs them to answer at all).
STILL_REFUSED_WHEN_LAX = {("openai", "no_model"), ("anthropic", "no_model"), ("anthropic", "no_max_tokens"),
                          ("anthropic", "no_messages")}


def _lax(faults):
    return "/" + faults(lax=1).split("://", 1)[1].split("/", 1)[1][:-len("/v1")]


def test_valid_bodies_pass(mock):
    for dialect, body, count in (("openai", OAI_VALID, False), ("anthropic", ANT_VALID, False),
                                 ("anthropic", ANT_COUNT_VALID, True), ("gemini", GEM_VALID, False),
                                 ("gemini", {"generateContentRequest": dict(GEM_VALID, model="models/g")}, True),
                                 ("gemini", {"contents": GEM_VALID["contents"]}, True)):
        r = _direct(mock, dialect, body, count=count)
        assert r.status == 200, (dialect, count, r)


@pytest.mark.parametrize("name,body,message,param,code", OPENAI_CASES, ids=[c[0] for c in OPENAI_CASES])
def test_openai_refuses(mock, faults, name, body, message, param, code):
    r = _direct(mock, "openai", body)
    assert r.status == 400, r
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert err["type"] == "invalid_request_error" and message in err["message"], err
    assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    if ("openai", name) not in STILL_REFUSED_WHEN_LAX:
        assert _direct(mock, "openai", body, _lax(faults)).status == 200


def test_azure_takes_the_model_from_the_deployment_but_checks_the_rest(mock):
    path = "/openai/deployments/my-4o/chat/completions?api-version=2024-10-21"
    body = {k: v for k, v in OAI_VALID.items() if k != "model"}
    assert http_request(mock.port, "POST", path, body, {"api-key": "k"}).status == 200
    r = http_request(mock.port, "POST", path, dict(body, temperature=3), {"api-key": "k"})
    assert r.status == 400 and r.json()["error"]["param"] == "temperature", r


def _assert_anthropic_400(r, message):
    assert r.status == 400, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
    assert message in doc["error"]["message"], doc


@pytest.mark.parametrize("name,body,message", ANTHROPIC_CASES, ids=[c[0] for c in ANTHROPIC_CASES])
def test_anthropic_refuses(mock, faults, name, body, message):
    _assert_anthropic_400(_direct(mock, "anthropic", body), message)
    if ("anthropic", name) not in STILL_REFUSED_WHEN_LAX:
        assert _direct(mock, "anthropic", body, _lax(faults)).status == 200


@pytest.mark.parametrize("name,body,message", ANTHROPIC_COUNT_CASES, ids=[c[0] for c in ANTHROPIC_COUNT_CASES])
def test_anthropic_count_tokens_refuses(mock, faults, name, body, message):
    _assert_anthropic_400(_direct(mock, "anthropic", body, count=True), message)
    if "messages" in body:
        assert _direct(mock, "anthropic", body, _lax(faults), count=True).status == 200


def _assert_gemini_400(r, message):
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT", err
    assert message in err["message"], err


@pytest.mark.parametrize("name,body,message", GEMINI_CASES, ids=[c[0] for c in GEMINI_CASES])
def test_gemini_refuses(mock, faults, name, body, message):
    _assert_gemini_400(_direct(mock, "gemini", body), message)
    # the stream endpoint applies the same rules
    r = http_request(mock.port, "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", body, GEM_HEADERS)
    _assert_gemini_400(r, message)
    if "contents" in body and body["contents"]:
        assert _direct(mock, "gemini", body, _lax(faults)).status == 200


@pytest.mark.parametrize("name,body,message", GEMINI_COUNT_CASES, ids=[c[0] for c in GEMINI_COUNT_CASES])
def test_gemini_count_tokens_refuses(mock, name, body, message):
    _assert_gemini_400(_direct(mock, "gemini", body, count=True), message)


def test_gemini_accepts_snake_case_and_lower_case_types(mock):
    body = {"system_instruction": {"parts": [{"text": "x"}]},
            "contents": [{"parts": [{"text": "hi"}]}],
            "tools": [{"function_declarations": [{"name": "f", "parameters": {
                "type": "object", "properties": {"a": {"type": "string"}}}}]}],
            "generation_config": {"max_output_tokens": 10, "stop_sequences": ["x"]}}
    assert _direct(mock, "gemini", body).status == 200


def test_not_json_is_refused_in_each_dialect(mock):
    assert _direct(mock, "openai", '{"model":"m","messages":[]').status == 400
    assert _direct(mock, "anthropic", '{"model":"m" "x"}').status == 400
    assert _direct(mock, "gemini", '{"contents":[tru]}').status == 400


def test_hostile_bodies_are_answered_not_crashed_on(mock):
    """Deep nesting is refused; a body of more JSON values than the validator
    parses (2^20) is answered without being judged, in every dialect."""
    deep = '{"model":"m","messages":[{"role":"user","content":"x"}],"x":' + "[" * 300 + "]" * 300 + "}"
    assert _direct(mock, "openai", deep).status == 400
    zeros = ",".join(["0"] * (1 << 20))
    assert _direct(mock, "openai", '{"model":"m","messages":[],"x":[%s]}' % zeros).status == 200
    body = '{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}],"x":[%s]}' % zeros
    assert _direct(mock, "anthropic", body).status == 200
    assert _direct(mock, "gemini", '{"contents":[],"x":[%s]}' % zeros).status == 200
    for bad in (r'{"model":"m","messages":[{"role":"user","content":"\q"}]}',
                r'{"model":"m","messages":[{"role":"user","content":"x"}],"n":01}',
                r'{"model":"m","messages":[{"role":"user","content":"x"}],"n":1.}',
                r'{"model":"m","messages":[{"role":"user","content":"\u12"}]}'):
        assert _direct(mock, "openai", bad).status == 400, bad


# --------------------------------------------------------------------------
# Part 2: a rich conversation through the gateway, every client x provider
# --------------------------------------------------------------------------

IMAGE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
WEATHER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "units": {"type": "object", "description": "Units",
                  "properties": {"temp": {"type": "string", "enum": ["C", "F"]},
                                 "wind": {"type": ["string", "null"]}},
                  "required": ["temp"], "additionalProperties": False},
        "days": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 7}},
    },
    "required": ["city"],
    "additionalProperties": False,
}
TIME_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANSWER_SCHEMA = {"type": "object",
                 "properties": {"summary": {"type": "string"},
                                "high": {"type": "number"},
                                "detail": {"type": "object", "properties": {"sky": {"type": "string"}},
                                           "additionalProperties": False}},
                 "required": ["summary", "high"], "additionalProperties": False}
WEATHER_ARGS = {"city": "Paris", "units": {"temp": "C"}, "days": [1, 2]}
STOP = ["END", "STOP"]


def openai_conversation(model, stream):
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in JSON."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather in the city of this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + IMAGE_B64, "detail": "low"}}]},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_w1", "type": "function",
                 "function": {"name": "get_weather", "arguments": json.dumps(WEATHER_ARGS)}},
                {"id": "call_t1", "type": "function",
                 "function": {"name": "get_time", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_w1", "content": "{\"temp\":18,\"sky\":\"clear\"}"},
            {"role": "tool", "tool_call_id": "call_t1", "content": "14:00"},
            {"role": "user", "content": "Thanks. And tomorrow?"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                    "parameters": WEATHER_SCHEMA}},
                  {"type": "function", "function": {"name": "get_time", "description": "Local time",
                                                    "parameters": TIME_SCHEMA}}],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "stop": STOP,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "forecast", "schema": ANSWER_SCHEMA, "strict": True}},
        "temperature": 1.2, "top_p": 0.9, "max_tokens": 300,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def anthropic_conversation(model, stream):
    body = {
        "model": model, "max_tokens": 300,
        "system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in JSON."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather in the city of this picture?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_B64}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_w1", "name": "get_weather", "input": WEATHER_ARGS},
                {"type": "tool_use", "id": "toolu_t1", "name": "get_time", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_w1", "content": "{\"temp\":18,\"sky\":\"clear\"}"},
                {"type": "tool_result", "tool_use_id": "toolu_t1", "content": [{"type": "text", "text": "14:00"}]},
                {"type": "text", "text": "Thanks. And tomorrow?"}]},
        ],
        "tools": [{"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA},
                  {"name": "get_time", "description": "Local time", "input_schema": TIME_SCHEMA}],
        "tool_choice": {"type": "auto"},
        "stop_sequences": STOP,
        "temperature": 0.6, "top_p": 0.9,
        "metadata": {"user_id": "u-1"},
    }
    if stream:
        body["stream"] = True
    return body


def gemini_conversation():
    def g(schema):
        """WEATHER_SCHEMA in Gemini's dialect (what a Gemini client sends)."""
        out = {}
        for k, v in schema.items():
            if k in ("$schema", "additionalProperties"):
                continue
            if k == "type":
                if isinstance(v, list):
                    out["type"] = v[0].upper()
                    out["nullable"] = True
                else:
                    out["type"] = v.upper()
            elif k == "properties":
                out[k] = {n: g(s) for n, s in v.items()}
            elif k == "items":
                out[k] = g(v)
            else:
                out[k] = v
        return out
    return {
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in JSON."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "What is the weather in the city of this picture?"},
                {"inlineData": {"mimeType": "image/png", "data": IMAGE_B64}}]},
            {"role": "model", "parts": [
                {"text": "Let me check."},
                {"functionCall": {"name": "get_weather", "args": WEATHER_ARGS}},
                {"functionCall": {"name": "get_time", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18, "sky": "clear"}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "14:00"}}}]},
            {"role": "user", "parts": [{"text": "Thanks. And tomorrow?"}]},
        ],
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather for a city", "parameters": g(WEATHER_SCHEMA)},
            {"name": "get_time", "description": "Local time", "parameters": g(TIME_SCHEMA)}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"stopSequences": STOP, "temperature": 0.6, "topP": 0.9, "maxOutputTokens": 300,
                             "responseMimeType": "application/json", "responseSchema": g(ANSWER_SCHEMA)},
    }


KINDS = {"openai": "mock-small", "azure": "azure-mock", "anthropic": "claude-mock", "gemini": "gemini-mock"}
UPSTREAM_PATH = {"openai": "/v1/chat/completions", "azure": "/openai/deployments/azure-mock/chat/completions",
                 "anthropic": "/v1/messages", "gemini": "/v1beta/models/gemini-mock:"}


@pytest.fixture(scope="module")
def strict_gw(mock, tmp_path_factory):
    from conftest import Gateway, check_gateways
    root = "http://127.0.0.1:%d" % mock.port
    providers = {}
    for kind, model in KINDS.items():
        p = provider(mock.url() if kind == "openai" else root, models=[model], api_key="%s-key" % kind, retries=0)
        p["kind"] = kind
        providers[kind] = p
    g = Gateway(str(tmp_path_factory.mktemp("strict")), {"providers": providers})
    try:
        g.start()
        yield g
    finally:
        problems = check_gateways([g])
    if problems:
        pytest.fail(problems, pytrace=False)


def _send(gw, client, kind, stream):
    model = KINDS[kind]
    if client == "openai":
        path, body, headers = "/v1/chat/completions", openai_conversation(model, stream), {"Authorization": "Bearer c"}
    elif client == "anthropic":
        path, body = "/v1/messages", anthropic_conversation(model, stream)
        headers = {"x-api-key": "c", "anthropic-version": "2023-06-01"}
    else:
        path = "/v1beta/models/%s:%s" % (model, "streamGenerateContent?alt=sse" if stream else "generateContent")
        body, headers = gemini_conversation(), {"x-goog-api-key": "c"}
    if not stream:
        r = http_request(gw.port, "POST", path, body, headers)
        return r.status, r.text
    c = SSEClient(gw.port, path=path, body=body, headers=headers, timeout=10)
    try:
        c.read_all()
    finally:
        c.close()
    return c.status, c.raw_body.decode("utf-8", "replace")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("client", ["openai", "anthropic", "gemini"])
def test_rich_conversation_passes_the_strict_mock(strict_gw, mock, client, kind, stream):
    status, text = _send(strict_gw, client, kind, stream)
    last = mock.last()
    assert status == 200, "%s client -> %s provider: %d %s\nupstream request %s\n%s" % (
        client, kind, status, text[:800], last["path"], last["body"][:3000])
    assert last["path"].startswith(UPSTREAM_PATH[kind]), last["path"]
    sent = json.loads(last["body"])
    # the conversation arrived whole: both tool calls and both results
    raw = last["body"]
    assert "get_weather" in raw and "get_time" in raw and "14:00" in raw, raw
    if kind == "anthropic":
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"], sent["messages"]
        assert sent["stop_sequences"] == STOP
    elif kind == "gemini":
        assert sent["generationConfig"]["stopSequences"] == STOP
    else:
        assert sent["stop"] == STOP


def test_rich_conversation_token_counts_pass_the_strict_mock(strict_gw, mock):
    """Anthropic and Gemini clients' count requests, translated for the other
    kind's count endpoint (PROTOCOLS 2.6, 4.5)."""
    ant = anthropic_conversation(KINDS["gemini"], False)
    for k in ("max_tokens", "temperature", "top_p", "stop_sequences", "metadata"):
        ant.pop(k)
    r = http_request(strict_gw.port, "POST", "/v1/messages/count_tokens", ant,
                     {"x-api-key": "c", "anthropic-version": "2023-06-01"})
    assert r.status == 200 and "input_tokens" in r.json(), (r, mock.last())
    assert mock.last()["path"].endswith(":countTokens")
    g = gemini_conversation()
    for body in ({"contents": g["contents"]},
                 {"generateContentRequest": dict(g, model="models/" + KINDS["anthropic"])}):
        r = http_request(strict_gw.port, "POST", "/v1beta/models/%s:countTokens" % KINDS["anthropic"], body,
                         {"x-goog-api-key": "c"})
        assert r.status == 200 and "totalTokens" in r.json(), (r, mock.last())
        assert mock.last()["path"] == "/v1/messages/count_tokens"


# --------------------------------------------------------------------------
# Part 3: requests that exposed translator bugs (spec/translate_strict_spec.lua)
# --------------------------------------------------------------------------

def _u(text="hi"):
    return {"role": "user", "content": text}


_NESTED_FREE = {"type": "object", "properties": {"meta": {"type": "object", "additionalProperties": {"type": "string"}}}}
REGRESSIONS = [
    # (id, client, body, provider kinds it failed on)
    ("empty_parameters", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, ["anthropic"]),
    ("parameters_without_type", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {
         "name": "f", "parameters": {"properties": {"a": {"type": "string"}}}}}]}, ["anthropic"]),
    ("nested_free_object", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {"name": "f", "parameters": _NESTED_FREE}}]},
     ["gemini"]),
    ("integer_enum", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {"name": "f", "parameters": {
         "type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}}}]}, ["gemini"]),
    ("tuple_items", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {"name": "f", "parameters": {
         "type": "object", "properties": {"p": {"type": "array", "items": [{"type": "number"}]}}}}}]}, ["gemini"]),
    ("required_undefined", "openai",
     {"messages": [_u()], "tools": [{"type": "function", "function": {"name": "f", "parameters": {
         "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}}}]}, ["gemini"]),
    ("response_schema_free_object", "openai",
     {"messages": [_u()], "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": _NESTED_FREE}}},
     ["gemini"]),
    ("deprecated_function_call", "openai",
     {"messages": [_u(), {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                   {"role": "function", "name": "f", "content": "ok"}]}, ["anthropic", "gemini"]),
    ("six_stop_sequences", "anthropic",
     {"max_tokens": 50, "messages": [_u()], "stop_sequences": ["a", "b", "c", "d", "e", "f"]}, ["openai", "gemini"]),
    ("thinking_only_assistant", "anthropic",
     {"max_tokens": 5000, "messages": [_u(), {"role": "assistant", "content": [
         {"type": "thinking", "thinking": "hmm", "signature": "c2ln"}]}, _u("go on")]}, ["openai"]),
    ("five_stop_sequences", "gemini",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
      "generationConfig": {"stopSequences": ["a", "b", "c", "d", "e"]}}, ["openai"]),
    ("thoughts_only_model_turn", "gemini",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                   {"role": "model", "parts": [{"text": "thinking...", "thought": True}]},
                   {"role": "user", "parts": [{"text": "again"}]}]}, ["openai"]),
]


@pytest.mark.parametrize("name,client,body,kinds", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_translator_regressions_pass_the_strict_mock(strict_gw, mock, name, client, body, kinds):
    for kind in kinds:
        model = KINDS[kind]
        if client == "openai":
            r = http_request(strict_gw.port, "POST", "/v1/chat/completions", dict(body, model=model),
                             {"Authorization": "Bearer c"})
        elif client == "anthropic":
            r = http_request(strict_gw.port, "POST", "/v1/messages", dict(body, model=model),
                             {"x-api-key": "c", "anthropic-version": "2023-06-01"})
        else:
            r = http_request(strict_gw.port, "POST", "/v1beta/models/%s:generateContent" % model, body,
                             {"x-goog-api-key": "c"})
        assert r.status == 200, (kind, r, mock.last()["body"][:1500])
        assert mock.last()["path"].startswith(UPSTREAM_PATH[kind])
