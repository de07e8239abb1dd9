-- examples/policies/cap_max_tokens.lua: caps max_tokens / max_completion_tokens.
--
-- Values above the limit (config `options.max_tokens_limit`, default below)
-- are lowered to it with req:set_field, which edits only that member of the
-- raw body; everything else reaches the provider byte for byte. Requests
-- without a limit of their own are left alone.
local router = require("moongate.router")

local DEFAULT_LIMIT = 1024

local config
local limit

return {
  init = function(cfg)
    config = cfg
    limit = cfg.options.max_tokens_limit or DEFAULT_LIMIT
    assert(type(limit) == "number" and limit >= 1, "options.max_tokens_limit must be a positive number")
  end,

  route = function(req)
    local j = req:json()
    if type(j) == "table" then
      for _, field in ipairs({ "max_tokens", "max_completion_tokens" }) do
        local v = j[field]
        if v ~= nil and type(v) ~= "number" then
          return nil, 400, field .. " must be an integer", "invalid_type", field
        end
        if v and v > limit then req:set_field(field, limit) end
      end
    end
    return router.route(req, config)
  end,
}
