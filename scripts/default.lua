-- scripts/default.lua: the stock policy, used when the config names none.
--
-- Routing precedence (see lua/moongate/router.lua for the details):
--   1. Routeur-Provider / Routeur-Model request headers,
--   2. an explicit model in the body ("provider/model" or a bare id),
--   3. `auto` or a configured alias (weighted choice, the rest as fallbacks);
--   ?vendor=NAME restricts the choice to one provider.
-- Copy this file to start your own policy: do your checks in route(), then
-- hand over to router.route.
local router = require("moongate.router")

local config -- the normalized config, set once by init

return {
  init = function(cfg)
    config = cfg
  end,

  route = function(req)
    return router.route(req, config)
  end,
}
