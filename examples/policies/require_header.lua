-- examples/policies/require_header.lua: requires a team header on every request.
--
-- The header (config `options.required_header`, default "X-Team") must be
-- present (401 otherwise) and look like a team name: letters, digits, '-',
-- '_', at most 64 bytes (400 otherwise). The team is kept in req.ctx for the
-- rest of the request, and on_done prints one accounting line per request.
local router = require("moongate.router")

local config
local header

return {
  init = function(cfg)
    config = cfg
    header = cfg.options.required_header or "X-Team"
  end,

  route = function(req)
    local team = req:header(header)
    if team == nil or team == "" then
      return nil, 401, "missing " .. header .. " header", "missing_header"
    end
    if #team > 64 or not team:match("^[%w_%-]+$") then
      return nil, 400, header .. " must be letters, digits, '-' or '_' (at most 64)", "invalid_header"
    end
    req.ctx.team = team
    return router.route(req, config)
  end,

  on_done = function(summary)
    print(string.format("request %s: %s/%s status %s", tostring(summary.id), tostring(summary.provider),
      tostring(summary.model), tostring(summary.status)))
  end,
}
