-- examples/policies/refuse_model.lua: refuses some models with 403.
--
-- The refused list comes from config `options.refused_models` (default
-- below). A request naming a refused model (body or Routeur-Model header) is
-- rejected; refused models are also dropped from an alias's fallbacks, so
-- `auto` can never reach one.
local router = require("moongate.router")

local DEFAULT_REFUSED = { "gpt-4o" }

local config
local refused = {}

return {
  init = function(cfg)
    config = cfg
    for _, m in ipairs(cfg.options.refused_models or DEFAULT_REFUSED) do refused[m] = true end
  end,

  route = function(req)
    local j = req:json()
    local asked = req:header("Routeur-Model") or (type(j) == "table" and j.model) or nil
    if type(asked) == "string" then
      local bare = asked:match("^[^/]+/(.+)$")
      if refused[asked] or (bare and refused[bare]) then
        return nil, 403, "model '" .. asked .. "' is not allowed by this gateway"
      end
    end
    local plan, status, message, code, param = router.route(req, config)
    if not plan then return nil, status, message, code, param end
    local kept = {}
    for _, a in ipairs(plan) do
      if not refused[a.model] then kept[#kept + 1] = a end
    end
    if #kept == 0 then return nil, 403, "no allowed model for '" .. tostring(asked) .. "'" end
    return kept
  end,
}
