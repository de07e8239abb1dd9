-- moongate.router: the stock model-choice rules, as a library for policies.
--
-- Owns: the precedence that turns a request into an ordered plan of
-- {provider, model} attempts (scripts/default.lua is a thin file over
-- router.route; example policies call it after their own checks):
--   1. headers `Routeur-Provider` / `Routeur-Model` win over the body
--      (provider only: that provider with the body's model, "p/" prefix
--      stripped unless the provider lists the full id; model only: resolved
--      like a body model);
--   2. an explicit body model pins it: "provider/model" (provider enabled,
--      else 404) or a bare id some enabled provider lists (several: first in
--      name order, the others as fallbacks); this bypasses aliases;
--   3. `auto` or a configured alias: weighted random first target (weights
--      default 1, weight 0 = fallback only), the others as fallbacks in order.
--   `?vendor=NAME` restricts every choice to that provider (404 if nothing is left).
-- Rejections are returned as `nil, status, message, code, param`.
local router = {}

local PEEK = require("moongate.request").PEEK
local band = require("bit").band
local type, ipairs, concat = type, ipairs, table.concat
local find, sub = string.find, string.sub

--- The random source for alias choices: a function returning [0, 1).
-- Replace it (or pass opts.rng to router.route) for deterministic tests.
router.random = math.random

local function not_found(name, cfg)
  return nil, 404, "model '" .. name .. "' not found; available: " .. cfg.available, "model_not_found", "model"
end

local function vendor_models(cfg, vendor)
  local P = cfg.providers[vendor]
  local m = P and concat(P.models, ", ") or ""
  return m ~= "" and m or "(none listed)"
end

local function not_from_vendor(name, cfg, vendor)
  return nil, 404, "model '" .. name .. "' is not available from vendor '" .. vendor
    .. "'; available from " .. vendor .. ": " .. vendor_models(cfg, vendor), "model_not_found", "model"
end

--- router.pick(targets, rng) -> new array of attempts {provider, model}: one
-- target drawn by weight first, the others after it in their listed order.
function router.pick(targets, rng)
  local n = #targets
  local first = 1
  if n > 1 then
    local total = 0
    for i = 1, n do total = total + targets[i].weight end
    if total > 0 then
      local r = (rng or router.random)() * total
      for i = 1, n do
        local w = targets[i].weight
        if w > 0 then
          first = i
          r = r - w
          if r < 0 then break end
        end
      end
    end
  end
  local out = { { provider = targets[first].provider, model = targets[first].model } }
  for i = 1, n do
    if i ~= first then out[#out + 1] = { provider = targets[i].provider, model = targets[i].model } end
  end
  return out
end

-- "provider/model" -> "provider", "model" (nil when name has no such split).
-- "^([^/]+)/(.+)$" would split it too; a plain find stays in compiled code
-- (string.match is not compiled by LuaJIT 2.1).
local function split_provider(name)
  local slash = find(name, "/", 1, true)
  if slash and slash > 1 and slash < #name then return sub(name, 1, slash - 1), sub(name, slash + 1) end
end

--- router.resolve(cfg, name [, vendor [, rng]]) -> attempts | nil, status, message, code, param
-- Resolves a model string (rules 2 and 3 above).
function router.resolve(cfg, name, vendor, rng)
  -- "provider/model" with an enabled provider.
  local pn, rest = split_provider(name)
  local P = pn and cfg.providers[pn]
  if P and P.enabled and (not vendor or vendor == pn) then
    return { { provider = pn, model = rest } }
  end
  -- A bare id listed by enabled providers (ids may contain "/": OpenRouter's do).
  local list = cfg.model_providers[name]
  if list then
    -- one provider (the usual case) without a loop: a loop run once per
    -- request gets blacklisted by LuaJIT and then aborts every trace through
    -- it (see Host:compile)
    if #list == 1 and (not vendor or vendor == list[1].name) then
      return { { provider = list[1].name, model = name } }
    end
    local out = {}
    for _, L in ipairs(list) do
      if not vendor or vendor == L.name then out[#out + 1] = { provider = L.name, model = name } end
    end
    if #out == 0 then return not_from_vendor(name, cfg, vendor) end
    return out
  end
  if P and P.enabled then return not_from_vendor(name, cfg, vendor) end
  if P then
    return nil, 404, "provider '" .. pn .. "' is not enabled (no api_key configured)", "model_not_found", "model"
  end
  -- An alias.
  local targets = cfg.aliases[name]
  if targets then
    if vendor then
      local f = {}
      for _, t in ipairs(targets) do
        if t.provider == vendor then f[#f + 1] = t end
      end
      targets = f
      if #targets == 0 then return not_from_vendor(name, cfg, vendor) end
    end
    if #targets == 0 then
      return nil, 404, "model '" .. name .. "' has no enabled provider; available: " .. cfg.available, "model_not_found", "model"
    end
    return router.pick(targets, rng)
  end
  if vendor then return not_from_vendor(name, cfg, vendor) end
  return not_found(name, cfg)
end

-- Checks ?vendor= (nil when absent); returns vendor or nil, status, message...
local function check_vendor(req, cfg)
  local vendor = req:arg("vendor")
  if vendor == nil or vendor == "" then return nil end
  local P = cfg.providers[vendor]
  if not P or not P.enabled then
    return false, 404, "vendor '" .. vendor .. "' not found; available vendors: " .. concat(cfg.enabled, ", "),
      "vendor_not_found", "vendor"
  end
  return vendor
end

local function forced_provider(cfg, hp, vendor)
  local P = cfg.providers[hp]
  if not P or not P.enabled then
    return nil, 404, "provider '" .. hp .. "' (Routeur-Provider) not found or not enabled; available: "
      .. concat(cfg.enabled, ", "), "provider_not_found", nil
  end
  if vendor and vendor ~= hp then
    return nil, 404, "provider '" .. hp .. "' (Routeur-Provider) conflicts with vendor '" .. vendor .. "'",
      "provider_not_found", nil
  end
  return P
end

-- Passthrough (any other /v1/* path): the body stays untouched, so only the
-- provider is chosen: header, ?vendor=, the body's model, else the first
-- enabled openai-kind provider by name.
local function route_passthrough(req, cfg, vendor, rng)
  local f, m = req:_peek()
  local bm = f and m or nil
  local hp = req:header("Routeur-Provider")
  if hp then
    local P, st, msg, code = forced_provider(cfg, hp, vendor)
    if not P then return nil, st, msg, code end
    return { { provider = hp, model = req:header("Routeur-Model") or bm or "" } }
  end
  if vendor then return { { provider = vendor, model = bm or "" } } end
  local name = req:header("Routeur-Model") or bm
  if name then
    local plan = router.resolve(cfg, name, nil, rng)
    if plan then return plan end
  end
  for _, pname in ipairs(cfg.enabled) do
    if cfg.providers[pname].kind == "openai" then return { { provider = pname, model = bm or "" } } end
  end
  return nil, 503, "no enabled OpenAI-compatible provider for " .. req.path, "no_provider", nil
end

--- router.route(req, cfg [, opts]) -> attempts | nil, status, message, code, param
-- opts.rng: random source for alias choices (default router.random).
function router.route(req, cfg, opts)
  cfg = cfg or req._config
  local rng = opts and opts.rng
  local vendor, vst, vmsg, vcode, vparam = check_vendor(req, cfg)
  if vendor == false then return nil, vst, vmsg, vcode, vparam end
  if req.endpoint == "passthrough" then return route_passthrough(req, cfg, vendor, rng) end

  -- what the body says, read without decoding it (req:_peek)
  local f, bm = req:_peek()
  if not f then return nil, 400, "request body is not valid JSON: " .. bm, "invalid_json", nil end
  if band(f, PEEK.OBJECT) == 0 then
    return nil, 400, "request body must be a JSON object", "invalid_json", nil
  end
  local has_model = band(f, PEEK.MODEL) ~= 0
  if req.dialect == "gemini" then -- Gemini names the model in the URL
    bm = req.path_model
    has_model = bm ~= nil
  end
  if has_model and (bm == nil or bm == "") then
    return nil, 400, "model must be a non-empty string", "invalid_type", "model"
  end
  local hp, hm = req:header("Routeur-Provider"), req:header("Routeur-Model")
  local name = hm or bm
  if not name then return nil, 400, "missing required field: model", "missing_required_field", "model" end
  if req.endpoint == "chat" or req.endpoint == "messages" then
    if band(f, PEEK.MESSAGES) == 0 then
      return nil, 400, "messages must be a non-empty array", "invalid_messages", "messages"
    end
  elseif req.endpoint == "generate" or req.endpoint == "stream_generate" then
    if band(f, PEEK.CONTENTS) == 0 then
      return nil, 400, "contents must be a non-empty array", "invalid_contents", "contents"
    end
  end
  if hp then
    local P, st, msg, code, param = forced_provider(cfg, hp, vendor)
    if not P then return nil, st, msg, code, param end
    -- The user forced the provider: use the model as given, minus a
    -- "provider/" prefix unless this provider lists the full id.
    if not P.model_set[name] then
      local pn, rest = split_provider(name)
      if pn and cfg.providers[pn] then name = rest end
    end
    return { { provider = hp, model = name } }
  end
  return router.resolve(cfg, name, vendor, rng)
end

return router
