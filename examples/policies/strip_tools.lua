-- examples/policies/strip_tools.lua: keeps denied tools away from the model.
--
-- Tools named in config `options.denied_tools` are removed from the request
-- (`tools_mode = "strip"`, the default), or the request is refused with 400
-- (`tools_mode = "refuse"`). When every tool goes, `tools` and `tool_choice`
-- go too. The rest of the body is untouched.
local router = require("moongate.router")

local DEFAULT_DENIED = { "shell" }

local config
local denied = {}
local mode

local function tool_name(t)
  if type(t) ~= "table" then return nil end
  local f = t["function"]
  if type(f) == "table" then return f.name end
  return t.name
end

return {
  init = function(cfg)
    config = cfg
    for _, n in ipairs(cfg.options.denied_tools or DEFAULT_DENIED) do denied[n] = true end
    mode = cfg.options.tools_mode or "strip"
    assert(mode == "strip" or mode == "refuse", "options.tools_mode must be \"strip\" or \"refuse\"")
  end,

  route = function(req)
    local j = req:json()
    if type(j) == "table" and type(j.tools) == "table" then
      if mode == "refuse" then
        for _, t in ipairs(j.tools) do
          local name = tool_name(t)
          if denied[name] then
            return nil, 400, "tool '" .. name .. "' is not allowed", "tool_not_allowed", "tools"
          end
        end
      else
        local _, err = req:remove_tools(denied)
        if err then return nil, 400, err end
      end
    end
    return router.route(req, config)
  end,
}
