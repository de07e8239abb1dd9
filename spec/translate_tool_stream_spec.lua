-- OpenAI stream -> Anthropic SSE (openai_to_anthropic): a later tool call
-- waits behind the live one until the live call's arguments form complete
-- JSON. The completeness check is incremental (one scan per fragment, one
-- decode when the value closes); these specs pin its answer to cjson's own
-- (the rule it replaced: decode everything received, on every chunk) and
-- check that large interleaved arguments are not re-parsed per chunk.
local S = require("moongate.translate.openai_anthropic_stream")
local common = require("moongate.translate.common")
local json = require("moongate.json")
local cjson = require("cjson")

local function chunk(delta, finish)
  return cjson.encode({ id = "chatcmpl-1", object = "chat.completion.chunk", created = 1, model = "gpt-4o",
    choices = { { index = 0, delta = delta, finish_reason = finish or cjson.null } } })
end

local function call(index, args, id, name)
  local f = { arguments = args }
  if name then f.name = name end
  return chunk({ tool_calls = { { index = index, id = id, type = id and "function" or nil, ["function"] = f } } })
end

-- Splits SSE frames text into { {event=, data=table}, ... }.
local function frames(text)
  local out = {}
  for block in text:gmatch("(.-)\n\n") do
    out[#out + 1] = { event = block:match("^event: ([^\n]*)\n"), data = cjson.decode(block:match("data: (.*)$")) }
  end
  return out
end

local function opens(text, name)
  for _, f in ipairs(frames(text)) do
    if f.event == "content_block_start" and f.data.content_block.name == name then return true end
  end
  return false
end

-- What the rule says: the waiting call opens right after the first chunk
-- whose arguments so far decode (moongate.json's cjson) to a table.
local function expected_open(pieces)
  local acc = ""
  for i, p in ipairs(pieces) do
    acc = acc .. p
    local ok, v = pcall(json.decode, acc)
    if ok and type(v) == "table" then return i end
  end
  return nil -- only when the message finishes
end

-- Feeds call "a" (index 0) in `pieces` with call "b" (index 1) waiting; returns
-- the number of the chunk after which "b" opened (nil: at the finish) and
-- the frames of the whole stream.
local function run(pieces)
  local s = S.openai_to_anthropic({})
  local out = { s:payload(chunk({ role = "assistant", content = "" })) }
  out[#out + 1] = s:payload(call(0, "", "call_a", "a"))
  out[#out + 1] = s:payload(call(1, '{"q":1}', "call_b", "b"))
  assert.is_false(opens(table.concat(out), "b"))
  local opened
  for i, p in ipairs(pieces) do
    out[#out + 1] = s:payload(call(0, p))
    if not opened and opens(out[#out], "b") then opened = i end
  end
  out[#out + 1] = s:payload(chunk({}, "tool_calls"))
  out[#out + 1] = s:payload("[DONE]")
  return opened, frames(table.concat(out))
end

local function bytes(text)
  local t = {}
  for i = 1, #text do t[i] = text:sub(i, i) end
  return t
end

local function random_split(text, seed)
  math.randomseed(seed)
  local t, i = {}, 1
  while i <= #text do
    local n = math.random(1, 7)
    t[#t + 1] = text:sub(i, i + n - 1)
    i = i + n
  end
  return t
end

local TEXTS = {
  '{"city":"Paris"}',
  '  {"a":"}{][\\"\\\\","b":[{}]}  ',      -- brackets and escapes inside strings, blanks around
  '[1,{"b":[2,3]}]',                        -- an array is a table too
  '{"u":"\\u00e9\\n\\/"}',
  '{"a":1}\n\t ',
  '{"a":1} x',                               -- junk after the value: never
  '{"a":1}}',
  '"just a string"',
  '42',
  '{"a":1,}',                                -- balanced but invalid
  '{"a":[}]}',                               -- mismatched brackets
  '{"a":NaN}',                               -- invalid numbers are refused
  '{"a":"x\0y"}',                            -- NUL inside: cjson stops there
  '{}\0{"more"',                             -- NUL after the value: already complete
  '\0{}',
  '{"a":"\\',                                -- never closes
  ("["):rep(1001) .. ("]"):rep(1001),        -- one level deeper than cjson's limit
}

describe("openai_to_anthropic: a tool call waiting behind the live one", function()
  it("opens exactly when the live call's arguments first decode to a table (every split)", function()
    for _, text in ipairs(TEXTS) do
      local splits = { { text }, bytes(text), random_split(text, 1), random_split(text, 2) }
      for k, pieces in ipairs(splits) do
        local opened = run(pieces)
        assert.are.equal(expected_open(pieces), opened,
          ("text %q, split %d (%d pieces)"):format(text:sub(1, 40), k, #pieces))
      end
    end
  end)

  it("keeps the frames: a's arguments up to its close, then b with its buffered fragments", function()
    local opened, fs = run({ '{"x":', '"}{"', "}", " ", '{"late":1}' })
    assert.are.equal(3, opened)
    local names, args = {}, {}
    for _, f in ipairs(fs) do
      if f.event == "content_block_start" then names[#names + 1] = f.data.content_block.name end
      if f.event == "content_block_delta" then
        args[f.data.index] = (args[f.data.index] or "") .. f.data.delta.partial_json
      end
    end
    assert.are.same({ "a", "b" }, names)
    -- fragments for a closed block are dropped (the documented limit)
    assert.are.same({ [0] = '{"x":"}{"}', [1] = '{"q":1}' }, args)
    assert.are.equal("message_stop", fs[#fs].event)
  end)

  it("does not re-parse large interleaved arguments on every chunk (1 MB: one decode of the whole)", function()
    local real = common.decode
    local calls, big, decoded = 0, 0, 0
    common.decode = function(text)
      calls = calls + 1
      decoded = decoded + #text
      if #text > 65536 then big = big + 1 end
      return real(text)
    end
    local ok, err = pcall(function()
      local s = S.openai_to_anthropic({})
      local piece = ("x"):rep(250)
      local n = 4096 -- 4096 * 256 bytes of each call's arguments: 1 MB for a, 1 MB for b
      local out = { s:payload(call(0, '{"data":"', "call_a", "a")), s:payload(call(1, '{"data":"', "call_b", "b")) }
      local sent = 0
      for i = 1, n do
        local last = i == n and '"}' or ""
        out[#out + 1] = s:payload(call(0, piece .. last))
        out[#out + 1] = s:payload(call(1, piece .. last))
        sent = sent + 2 * #call(0, piece)
      end
      out[#out + 1] = s:payload(chunk({}, "tool_calls"))
      out[#out + 1] = s:payload("[DONE]")
      local args = {}
      for _, f in ipairs(frames(table.concat(out))) do
        if f.event == "content_block_delta" then
          args[f.data.index] = (args[f.data.index] or "") .. f.data.delta.partial_json
        end
      end
      local whole = '{"data":"' .. piece:rep(n) .. '"}'
      assert.are.equal(whole, args[0])
      assert.are.equal(whole, args[1])
      -- Each chunk is decoded once (its own bytes); the accumulated
      -- arguments only when they close: a's once (b opens then), never b's
      -- (the finish closes it). The old rule decoded a's growing arguments
      -- on every chunk: about 4096 * 0.5 MB.
      assert.is_true(big <= 1, "large decodes: " .. big)
      assert.is_true(decoded < 2 * sent + 2 * #whole, ("decoded %d bytes for %d sent"):format(decoded, sent))
      assert.is_true(calls <= 2 * n + 8, "decode calls: " .. calls)
    end)
    common.decode = real
    assert(ok, err)
  end)
end)
