-- Fidelity of moongate.json: raw edits keep every untouched byte.
local json = require("moongate.json")

describe("moongate.json", function()
  describe("scan", function()
    it("lists top-level members with raw value spans", function()
      local raw = ' { "a" : [1, {"x": "}"}] , "b":"q\\"}]" ,"c":null } '
      local s = assert(json.scan(raw))
      assert.are.equal(3, s.n)
      assert.are.same({ "a", "b", "c" }, s.key)
      assert.are.equal('[1, {"x": "}"}]', raw:sub(s.vstart[1], s.vend[1]))
      assert.are.equal('"q\\"}]"', raw:sub(s.vstart[2], s.vend[2]))
      assert.are.equal("null", raw:sub(s.vstart[3], s.vend[3]))
    end)

    it("skips strings holding brackets, quotes and escaped backslashes", function()
      local raw = [[{"s":"a\\","t":"[{\"}","u":"\\\"]","v":{"w":["]",{"}":"{"}]}}]]
      local s = assert(json.scan(raw))
      assert.are.same({ "s", "t", "u", "v" }, s.key)
      assert.are.equal([["a\\"]], raw:sub(s.vstart[1], s.vend[1]))
      assert.are.equal([["[{\"}"]], raw:sub(s.vstart[2], s.vend[2]))
      assert.are.equal([["\\\"]"]], raw:sub(s.vstart[3], s.vend[3]))
      assert.are.equal([[{"w":["]",{"}":"{"}]}]], raw:sub(s.vstart[4], s.vend[4]))
    end)

    it("decodes escaped keys", function()
      local s = assert(json.scan('{"mo\\u0064el":1}'))
      assert.are.equal("model", s.key[1])
    end)

    it("rejects non-objects and broken input", function()
      assert.is_nil(json.scan("[1,2]"))
      assert.is_nil(json.scan('{"a":'))
      assert.is_nil(json.scan('{"a":"unterminated}'))
      assert.is_nil(json.scan('{"a" 1}'))
      assert.is_nil(json.scan('{"a":[1,2}'))
      assert.is_nil(json.scan(""))
    end)
  end)

  describe("get_raw", function()
    it("returns the exact raw text of values", function()
      local raw = '{"n":12345678901234567890,"f":0.1000000000000000055511151231257827,"e":[],"o":{},"u":"\\ud83d\\ude00 é"}'
      assert.are.equal("12345678901234567890", json.get_raw(raw, "n"))
      assert.are.equal("0.1000000000000000055511151231257827", json.get_raw(raw, "f"))
      assert.are.equal("[]", json.get_raw(raw, "e"))
      assert.are.equal("{}", json.get_raw(raw, "o"))
      assert.are.equal('"\\ud83d\\ude00 é"', json.get_raw(raw, "u"))
      assert.is_nil(json.get_raw(raw, "missing"))
    end)

    it("returns the last of duplicated keys, like cjson", function()
      assert.are.equal("2", json.get_raw('{"a":1,"a":2}', "a"))
    end)
  end)

  describe("set_field", function()
    local body = '{\n  "model": "auto",\n  "tools": [],\n  "meta": {},\n  "seed": 12345678901234567890,\n'
      .. '  "t": 0.1000000000000000055511151231257827,\n  "msg": "h\\u00e9llo \\ud83d\\ude00 ✓"\n}'

    it("replaces a value and keeps every other byte", function()
      local out = assert(json.set_field(body, "model", '"gpt-4o"'))
      assert.are.equal(body:gsub('"auto"', '"gpt-4o"'), out)
    end)

    it("appends a member before the closing brace", function()
      local out = assert(json.set_field(body, "stream", "true"))
      assert.are.equal(body:sub(1, -3) .. ',"stream":true\n}', out)
    end)

    it("handles the empty object", function()
      assert.are.equal('{"a":1}', json.set_field("{}", "a", "1"))
      assert.are.equal('{ "a":1}', json.set_field("{ }", "a", "1"))
    end)

    it("replaces every occurrence of a duplicated key", function()
      assert.are.equal('{"a":9,"b":2,"a":9}', json.set_field('{"a":1,"b":2,"a":3}', "a", "9"))
    end)

    it("fails cleanly on a non-object", function()
      local out, err = json.set_field("[1]", "a", "1")
      assert.is_nil(out)
      assert.matches("not a JSON object", err)
    end)
  end)

  describe("remove_field", function()
    it("removes a first, middle and last member with their commas", function()
      local raw = '{"a":1, "b":[2], "c":{"d":3}}'
      assert.are.equal('{"b":[2], "c":{"d":3}}', json.remove_field(raw, "a"))
      assert.are.equal('{"a":1, "c":{"d":3}}', json.remove_field(raw, "b"))
      assert.are.equal('{"a":1, "b":[2]}', json.remove_field(raw, "c"))
    end)

    it("removes the only member and leaves a valid empty object", function()
      assert.are.equal("{}", json.remove_field('{"a":1}', "a"))
      assert.are.equal("{  \n}", json.remove_field('{ "a" : [1,2] \n}', "a"))
    end)

    it("returns the very same string when the key is absent", function()
      local raw = '{"a":1}'
      assert.are.equal(raw, json.remove_field(raw, "zz"))
    end)
  end)

  describe("apply", function()
    local function check(raw, edits, order, expected)
      local out = json.apply(raw, assert(json.scan(raw)), edits, order)
      assert.are.equal(expected, out)
      assert.truthy(pcall(json.decode, out))
    end

    it("combines removals, replacements and appends in one pass", function()
      check('{"a":1,"b":2,"c":3,"d":4}', { a = false, c = "30", d = false, e = '"x"' }, { "e" },
        '{"b":2,"c":30,"e":"x"}')
      check('{"a":1,"b":2}', { a = false, b = false, c = "3" }, { "c" }, '{"c":3}')
      check('{"a":1,"b":2,"c":3}', { b = false, c = false }, nil, '{"a":1}')
      check('{"a":1,"b":2,"c":3}', { a = false, b = false }, nil, '{"c":3}')
    end)

    it("returns the identical string when nothing changes", function()
      local raw = '{"a":1}'
      local out = json.apply(raw, json.scan(raw), { b = false }, {})
      assert.are.equal(raw, out)
    end)
  end)

  describe("array_items", function()
    it("splits raw elements exactly", function()
      local items = assert(json.array_items(' [ 1 , "a,]" , {"b":[1,2]}, [], 1e400 ,null] '))
      assert.are.same({ "1", '"a,]"', '{"b":[1,2]}', "[]", "1e400", "null" }, items)
    end)

    it("handles the empty array and rejects non-arrays", function()
      assert.are.same({}, json.array_items("[]"))
      assert.are.same({}, json.array_items(" [ ] "))
      assert.is_nil(json.array_items("{}"))
      assert.is_nil(json.array_items("[1,"))
    end)
  end)

  describe("encode", function()
    it("escapes quotes, backslashes and control characters, keeps UTF-8", function()
      assert.are.equal('"a\\"b\\\\c\\n\\t\\u0001é✓"', json.encode('a"b\\c\n\t\1é✓'))
    end)

    it("prints integers as integers and other numbers exactly", function()
      assert.are.equal("1024", json.encode(1024))
      assert.are.equal("-3", json.encode(-3))
      assert.are.equal("4503599627370496", json.encode(2 ^ 52))
      assert.are.equal("0.1", json.encode(0.1))
      assert.are.equal(1 / 3, tonumber(json.encode(1 / 3)))
      assert.are.equal(2 ^ 60, tonumber(json.encode(2 ^ 60)))
      assert.has_error(function() json.encode(0 / 0) end)
      assert.has_error(function() json.encode(math.huge) end)
    end)

    it("encodes arrays, empty arrays, objects with sorted keys, null", function()
      assert.are.equal('[1,"a",true]', json.encode({ 1, "a", true }))
      assert.are.equal("{}", json.encode({}))
      assert.are.equal("[]", json.encode(json.empty_array))
      assert.are.equal("[]", json.encode(setmetatable({}, json.array_mt)))
      assert.are.equal('{"a":null,"b":[],"c":{"d":false}}',
        json.encode({ c = { d = false }, b = json.empty_array, a = json.null }))
      assert.are.equal("null", json.encode(nil))
    end)

    it("rejects functions and cycles", function()
      assert.has_error(function() json.encode(print) end)
      local t = {}
      t.t = t
      assert.has_error(function() json.encode(t) end)
    end)
  end)
end)
