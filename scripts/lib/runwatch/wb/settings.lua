-- W&B settings as the SDK resolves them: the API key (explicit, WANDB_API_KEY, a systemd
-- credential, then the netrc entry for the base URL's host:port), WANDB_BASE_URL, WANDB_ENTITY, WANDB_PROJECT, the
-- settings files. The key is registered for redaction the moment it is read.
local core = require "runwatch.core"
local errors = require "runwatch.errors"

local M = {}
M.DEFAULT_BASE_URL = "https://api.wandb.ai"

-- host[:port] of a URL, lowercased, with the default port dropped (as urlsplit().netloc)
function M.netloc(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  local hostport = rest:match("^([^/?#]*)") or ""
  hostport = hostport:gsub("^.*@", "")
  return hostport:lower(), scheme:lower()
end

-- origin = scheme://host:port, for "is this URL on the W&B host?" checks
function M.origin(url)
  local netloc, scheme = M.netloc(url)
  if not netloc then return nil end
  if not netloc:find(":%d+$") and not netloc:find("%]$") then
    netloc = netloc .. (scheme == "https" and ":443" or scheme == "http" and ":80" or "")
  end
  return scheme .. "://" .. netloc
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The netrc path the SDK uses: $NETRC, else ~/.netrc if it exists, else ~/_netrc, else ~/.netrc
function M.netrc_path()
  local p = os.getenv("NETRC")
  if p and p ~= "" then return p end
  local home = os.getenv("HOME") or ""
  if io.open(home .. "/.netrc") then return home .. "/.netrc" end
  if io.open(home .. "/_netrc") then return home .. "/_netrc" end
  return home .. "/.netrc"
end

local warned = {}   -- netrc files whose permissions were already checked

-- Tokenises a netrc (whitespace separated, "quoted" tokens, # comments at line start) and
-- returns the password of `machine` (or of `default`), and the file's permission warning.
function M.netrc_password(path, machine)
  local src = read_file(path)
  if not src then return nil end
  local tokens = {}
  for line in src:gmatch("[^\n]*") do
    if not line:match("^%s*#") then
      local i = 1
      while i <= #line do
        local s = line:find("%S", i)
        if not s then break end
        local tok, e
        if line:sub(s, s) == '"' or line:sub(s, s) == "'" then
          local q = line:sub(s, s)
          e = line:find(q, s + 1, true) or #line + 1
          tok = line:sub(s + 1, e - 1)
        else
          e = (line:find("%s", s) or #line + 1) - 1
          tok = line:sub(s, e)
        end
        tokens[#tokens + 1] = tok
        i = e + 1
      end
    end
  end
  local found, default
  local i = 1
  local cur = nil
  while i <= #tokens do
    local t = tokens[i]
    if t == "machine" then cur = tokens[i + 1]; i = i + 2
    elseif t == "default" then cur = "\0default"; i = i + 1
    elseif t == "password" then
      local pw = tokens[i + 1]
      if cur == machine and not found then found = pw end
      if cur == "\0default" and not default then default = pw end
      i = i + 2
    elseif t == "login" or t == "account" or t == "macdef" then i = i + 2
    else i = i + 1 end
  end
  local pw = found or default
  if pw and not warned[path] then
    local mode = core.file_mode(path)
    warned[path] = true                  -- once per file, however many Api objects read it
    if mode and (mode & 0x3f) ~= 0 then   -- 077: readable or writable by group or others
      core.log("warn", string.format("%s is accessible by group or others (mode %o); run chmod 600 %s", path, mode, path))
    end
  end
  return pw
end

-- INI [default] section of ~/.config/wandb/settings and ./wandb/settings (base_url, entity, project)
local function settings_files()
  local out = {}
  local home = os.getenv("HOME") or ""
  local cfg = os.getenv("WANDB_CONFIG_DIR") or (home .. "/.config/wandb")
  for _, p in ipairs({cfg .. "/settings", "wandb/settings"}) do
    local src = read_file(p)
    if src then
      local section
      for line in src:gmatch("[^\n]+") do
        local s = line:match("^%s*%[(.-)%]%s*$")
        if s then section = s
        elseif section == "default" then
          local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
          if k then out[k] = v; if k == "base_url" then out.base_url_source = "base_url in " .. p end end
        end
      end
    end
  end
  return out
end

-- A valid key: a JWT, or (after an optional "prefix-") 40+ characters of [%w_-].
function M.check_key(key)
  if key:match("^[%w_-]+%.[%w_-]+%.[%w_-]+$") then return true end
  local secret = key:match("^[^-]*%-(.*)$") or key
  if not secret:match("^[%w_-]+$") then return false, "API key has characters other than letters, digits, _ and -" end
  if #secret < 40 then return false, "API key must have 40+ characters, has " .. #secret .. "." end
  return true
end

-- why_bad_url(url) -> nil for an http(s) URL with a host (and a port in range), else the reason
function M.why_bad_url(url)
  if type(url) ~= "string" then return "is not a string" end
  if url:find("[%c%s]") then return "has a space or a control character" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return "is not a URL (http:// or https:// expected)" end
  if scheme:lower() ~= "http" and scheme:lower() ~= "https" then
    return "has the scheme " .. scheme .. ":// (http:// or https:// expected)"
  end
  local host = (rest:match("^([^/?#]*)") or ""):gsub("^.*@", "")
  local name, port = host:match("^(.-):(%d*)$")
  if name and (port == "" or tonumber(port) < 1 or tonumber(port) > 65535) then return "has a bad port" end
  if (name or host) == "" then return "has no host" end
  return nil
end

-- A URL's user:password@ part is a credential (a key can be put there): registered for redaction
-- before the URL can appear anywhere, and masked in the messages that quote the URL.
local function hide_userinfo(url)
  local ui = type(url) == "string" and url:match("^%a[%w+.-]*://([^/?#]*)@")
  if not ui then return url end
  for _, secret in ipairs({ui, ui:match(":(.+)$"), ui:match("^([^:]+):")}) do
    if #secret >= 4 then core.add_secret(secret) end
  end
  return (url:gsub("^(%a[%w+.-]*://)[^/?#]*@", "%1***@"))
end

-- resolve(overrides) -> {base_url, api_key (may be nil), entity, project, key_source}
function M.resolve(o)
  o = o or {}
  local files = settings_files()
  local s = {}
  local url, source = M.DEFAULT_BASE_URL, "the default base URL"
  if o.base_url ~= nil then url, source = o.base_url, "base_url"
  elseif os.getenv("WANDB_BASE_URL") and os.getenv("WANDB_BASE_URL") ~= "" then
    url, source = os.getenv("WANDB_BASE_URL"), "WANDB_BASE_URL"
  elseif files.base_url then url, source = files.base_url, files.base_url_source end
  local shown = hide_userinfo(url)
  local why = M.why_bad_url(url)
  if why then
    -- a setting that can never work: a CommError at once, naming where it came from
    errors.raise({message = string.format("%s %q %s", source, tostring(shown), why), retryable = false}, 3)
  end
  s.base_url = url:gsub("/+$", "")
  s.entity = o.entity or os.getenv("WANDB_ENTITY") or files.entity
  s.project = o.project or os.getenv("WANDB_PROJECT") or files.project
  if s.entity == "" then s.entity = nil end
  if s.project == "" then s.project = nil end
  if o.api_key then
    s.api_key, s.key_source = o.api_key, "argument"
  elseif os.getenv("WANDB_API_KEY") and os.getenv("WANDB_API_KEY") ~= "" then
    s.api_key, s.key_source = os.getenv("WANDB_API_KEY"), "WANDB_API_KEY"
  else
    -- a systemd credential (LoadCredential=wandb_api_key:FILE in runwatch@.service's drop-in)
    local cdir = os.getenv("CREDENTIALS_DIRECTORY")
    local cred = cdir and cdir ~= "" and read_file(cdir .. "/wandb_api_key")
    cred = cred and cred:gsub("%s+$", "")
    if cred and cred ~= "" then
      s.api_key, s.key_source = cred, "systemd credential wandb_api_key"
    else
      local path = M.netrc_path()
      local pw = M.netrc_password(path, (M.netloc(s.base_url)))
      if pw then s.api_key, s.key_source = pw, path end
    end
  end
  if s.api_key then core.add_secret(s.api_key) end
  return s
end

return M
