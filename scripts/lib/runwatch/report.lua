-- Self-contained HTML reports: report.html{title=, path=, sections={...}} writes one file with
-- tables and line charts as inline SVG (inline CSS, no scripts, no external assets); every text
-- is escaped. report.render(spec) returns the HTML. See docs/export.md.
local export = require "runwatch.export"
local task = require "runwatch.task"

local M = {}

M.PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"}

-- {====== text

local REPLACEMENT = "\239\191\189"   -- U+FFFD

-- Valid UTF-8 without control characters (except tab, LF, CR): what HTML and XML accept.
local function clean(s)
  if utf8.len(s) and not s:find("[%z\1-\8\11\12\14-\31\127]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2 or (c >= 0xE0 and c <= 0xEF) and 3
      or (c >= 0xF0 and c <= 0xF4) and 4 or 0
    local ch = len > 0 and s:sub(i, i + len - 1) or nil
    if ch and #ch == len and utf8.len(ch) == 1 then
      if len == 1 and (c < 32 and c ~= 9 and c ~= 10 and c ~= 13 or c == 127) then ch = REPLACEMENT end
      out[#out + 1] = ch
      i = i + len
    else
      out[#out + 1] = REPLACEMENT
      i = i + 1
    end
  end
  return table.concat(out)
end

local ENTITIES = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}

-- escape(v) -> text safe in HTML/XML content and quoted attribute values
function M.escape(v)
  if v == nil then return "" end
  if type(v) ~= "string" then v = export.text(v) end
  return (clean(v):gsub("[&<>\"']", ENTITIES))
end
local esc = M.escape

-- }======

-- {====== numbers and axes

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- ticks(lo, hi, n) -> list of about n round values covering [lo, hi], the step, new lo and hi
local function ticks(lo, hi, n, extend)
  if lo == hi then
    local d = lo == 0 and 1 or math.abs(lo) * 0.1
    lo, hi = lo - d, hi + d
  end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = 10 * mag
  for _, m in ipairs({1, 2, 2.5, 5, 10}) do
    if raw <= m * mag * (1 + 1e-9) then step = m * mag; break end
  end
  if extend then
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
  end
  local out = {}
  local k = math.ceil(lo / step - 1e-9)
  while k * step <= hi + step * 1e-9 and #out < 100 do
    out[#out + 1] = k * step
    k = k + 1
  end
  return out, step, lo, hi
end

local function tick_label(v, step)
  if math.abs(v) < step * 1e-9 then return "0" end
  local a = math.abs(v)
  if a >= 1e7 or a < 1e-4 then return (string.format("%.3g", v):gsub("e%+?(%-?)0*(%d)", "e%1%2")) end
  for d = 0, 10 do
    local s = string.format("%." .. d .. "f", step)
    if math.abs(tonumber(s) - step) <= step * 1e-6 then return string.format("%." .. d .. "f", v) end
  end
  return string.format("%g", v)
end

local function num(v) return export.text(v) end

local function coord(v) return string.format("%.1f", v) end

-- }======

-- {====== sections

local function list_of(rows)
  if rows == nil then return {} end
  local out, i = {}, 1
  while true do
    local r = rows[i]
    if r == nil then break end
    out[i] = r
    i = i + 1
  end
  return out
end

local function table_section(s, out, level)
  local rows = list_of(s.rows or s.runs)
  local cols = s.columns and export.check_columns(s.columns, export.is_run(rows[1]), level + 1)
    or export.columns(rows)
  local digits = s.digits == nil and 6 or s.digits   -- significant digits of floats; false: exact
  if digits ~= false and (math.type(digits) ~= "integer" or digits < 1 or digits > 17) then
    error("bad table section (digits = 1 to 17, or false for exact values)", level + 1)
  end
  out[#out + 1] = '<section class="table">'
  if s.title then out[#out + 1] = "<h2>" .. esc(s.title) .. "</h2>" end
  out[#out + 1] = '<div class="scroll"><table>\n<thead><tr>'
  for _, c in ipairs(cols) do out[#out + 1] = "<th>" .. esc(c) .. "</th>" end
  out[#out + 1] = "</tr></thead>\n<tbody>\n"
  for _, r in ipairs(rows) do
    out[#out + 1] = "<tr>"
    for _, c in ipairs(cols) do
      local v = export.value(r, c)
      if math.type(v) == "float" and digits and finite(v) then
        -- rounded for reading; the exact value on hover
        local short = string.format("%." .. digits .. "g", v)
        if tonumber(short) == v then out[#out + 1] = '<td class="num">' .. esc(num(v)) .. "</td>"
        else out[#out + 1] = '<td class="num" title="' .. esc(num(v)) .. '">' .. esc(short) .. "</td>" end
      elseif type(v) == "number" then out[#out + 1] = '<td class="num">' .. esc(num(v)) .. "</td>"
      else out[#out + 1] = "<td>" .. esc(v) .. "</td>" end
    end
    out[#out + 1] = "</tr>\n"
  end
  if #rows == 0 then out[#out + 1] = '<tr><td class="empty" colspan="' .. #cols .. '">no rows</td></tr>\n' end
  out[#out + 1] = "</tbody></table></div></section>\n"
end

local function text_section(s, out, level)
  if type(s.text) ~= "string" then error("bad text section (text = a string expected)", level + 1) end
  out[#out + 1] = '<section class="text">'
  if s.title then out[#out + 1] = "<h2>" .. esc(s.title) .. "</h2>" end
  for para in (s.text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    if para:find("%S") then
      out[#out + 1] = "<p>" .. esc(para):gsub("\r?\n", "<br/>") .. "</p>"
    end
  end
  out[#out + 1] = "</section>\n"
end

local function ylist(y, level)
  if type(y) == "string" then return {y} end
  if type(y) ~= "table" or #y == 0 then error("bad chart section (y = a metric key or a list of keys expected)", level + 1) end
  for i, k in ipairs(y) do
    if type(k) ~= "string" then error("bad chart section (y[" .. i .. "] must be a string)", level + 1) end
  end
  return y
end

-- Lines of a chart: {name=, xs={}, ys={}, rows=n}; xs/ys hold every row, non-finite as nil
local function line_from_rows(name, rows, x, y)
  local l = {name = name, key = y, xs = {}, ys = {}, rows = 0}
  for i, row in ipairs(rows) do
    l.rows = i
    l.xs[i] = export.value(row, x)
    l.ys[i] = export.value(row, y)
  end
  return l
end

local function chart_lines(s, level)
  local x = s.x or "_step"
  local ys = s.y and ylist(s.y, level + 1) or nil
  local lines = {}
  if s.runs then
    if not ys then error("bad chart section (runs need y = the metric keys)", level + 1) end
    local runs = list_of(s.runs)
    local jobs = {}
    for _, r in ipairs(runs) do
      if not export.is_run(r) then error("bad chart section (runs = a list of runs expected)", level + 1) end
      for _, key in ipairs(ys) do
        jobs[#jobs + 1] = {run = r, key = key,
          name = (r.name or r.id) .. (#ys > 1 and (" " .. key) or "")}
      end
    end
    local samples = s.samples or 500
    if math.type(samples) ~= "integer" or samples < 2 then error("bad chart section (samples = an integer >= 2)", level + 1) end
    local got = task.map(jobs, function(j)
      return j.run:history{keys = {j.key}, samples = samples, x_axis = x}
    end, {limit = 4})
    for i, j in ipairs(jobs) do lines[i] = line_from_rows(j.name, got[i] or {}, x, j.key) end
  elseif s.series then
    if type(s.series) ~= "table" then error("bad chart section (series = a list expected)", level + 1) end
    for i, sr in ipairs(s.series) do
      if type(sr) ~= "table" then error("bad chart section (series[" .. i .. "] must be a table)", level + 1) end
      local name = sr.name or ("series " .. i)
      if sr.rows then
        if not ys then error("bad chart section (series with rows need y = the metric keys)", level + 1) end
        for _, key in ipairs(ys) do
          lines[#lines + 1] = line_from_rows(name .. (#ys > 1 and (" " .. key) or ""), list_of(sr.rows), x, key)
        end
      elseif sr.points then
        local l = {name = name, key = ys and ys[1], xs = {}, ys = {}, rows = #sr.points, markers = sr.markers}
        for k, p in ipairs(sr.points) do l.xs[k] = p[1]; l.ys[k] = p[2] end
        lines[#lines + 1] = l
      elseif type(sr.x) == "table" and type(sr.y) == "table" then
        local n = math.max(#sr.x, #sr.y)
        local l = {name = name, key = ys and ys[1], xs = {}, ys = {}, rows = n}
        for k = 1, n do l.xs[k] = sr.x[k]; l.ys[k] = sr.y[k] end
        lines[#lines + 1] = l
      else
        error("bad chart section (series[" .. i .. "] needs rows=, points= or x= and y= lists)", level + 1)
      end
    end
  else
    error("bad chart section (runs= or series= expected)", level + 1)
  end
  return lines, x, ys
end

local function chart_section(s, out, level, nchart)
  local lines, x, ys = chart_lines(s, level + 1)
  local W, H = s.width or 900, s.height or 360
  local ml, mr, mt, mb = 70, 20, 14, 46
  local pw, ph = W - ml - mr, H - mt - mb
  local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
  for _, l in ipairs(lines) do
    for k = 1, l.rows do
      local xv, yv = l.xs[k], l.ys[k]
      if finite(xv) and finite(yv) then
        if xv < xlo then xlo = xv end
        if xv > xhi then xhi = xv end
        if yv < ylo then ylo = yv end
        if yv > yhi then yhi = yv end
      end
    end
  end
  local has_data = xlo <= xhi
  if not has_data then xlo, xhi, ylo, yhi = 0, 1, 0, 1 end
  local xt, xstep
  xt, xstep, xlo, xhi = ticks(xlo, xhi, 8, false)
  local yt, ystep
  yt, ystep, ylo, yhi = ticks(ylo, yhi, 6, true)
  local function px(v) return ml + (v - xlo) / (xhi - xlo) * pw end
  local function py(v) return mt + ph - (v - ylo) / (yhi - ylo) * ph end
  local title = s.title or (table.concat(ys or {"y"}, ", ") .. " over " .. x)
  out[#out + 1] = '<section class="chart">'
  out[#out + 1] = "<h2>" .. esc(title) .. "</h2>\n"
  out[#out + 1] = string.format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-%d" ' ..
    'width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">\n', nchart, W, H, W, H, esc(title))
  out[#out + 1] = string.format('<rect class="plot" x="%d" y="%d" width="%d" height="%d"/>\n', ml, mt, pw, ph)
  -- grid, ticks and labels
  out[#out + 1] = '<g class="axis y">'
  for _, v in ipairs(yt) do
    local yy = coord(py(v))
    out[#out + 1] = string.format('<line class="grid" x1="%d" x2="%d" y1="%s" y2="%s"/>' ..
      '<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>',
      ml, ml + pw, yy, yy, ml - 6, yy, esc(tick_label(v, ystep)))
  end
  out[#out + 1] = "</g>\n<g class=\"axis x\">"
  for _, v in ipairs(xt) do
    local xx = coord(px(v))
    out[#out + 1] = string.format('<line class="tick" x1="%s" x2="%s" y1="%d" y2="%d"/>' ..
      '<text x="%s" y="%d" text-anchor="middle">%s</text>', xx, xx, mt + ph, mt + ph + 5, xx, mt + ph + 18,
      esc(tick_label(v, xstep)))
  end
  out[#out + 1] = "</g>\n"
  out[#out + 1] = string.format('<text class="label" x="%s" y="%d" text-anchor="middle">%s</text>\n',
    coord(ml + pw / 2), H - 8, esc(x))
  out[#out + 1] = string.format('<text class="label" transform="translate(14 %s) rotate(-90)" text-anchor="middle">%s</text>\n',
    coord(mt + ph / 2), esc(table.concat(ys or {}, ", ")))
  -- one path per line, one point per data row that has finite x and y (a gap starts a new M)
  for i, l in ipairs(lines) do
    local color = M.PALETTE[(i - 1) % #M.PALETTE + 1]
    -- a point with no neighbour in its stretch (a one-point series, or one between gaps) draws
    -- no line, so its dot is shown always (class "lone") instead of only on hover
    local d, dots, npts, pen_down = {}, {}, 0, false
    local seg_start, seg_len = 0, 0
    local function end_segment()
      if seg_len == 1 then dots[seg_start] = dots[seg_start]:gsub("^<circle ", '<circle class="lone" ') end
      seg_len = 0
    end
    for k = 1, l.rows do
      local xv, yv = l.xs[k], l.ys[k]
      if finite(xv) and finite(yv) then
        local cx, cy = coord(px(xv)), coord(py(yv))
        d[#d + 1] = (pen_down and "L" or "M") .. cx .. " " .. cy
        pen_down = true
        npts = npts + 1
        dots[#dots + 1] = string.format('<circle cx="%s" cy="%s" r="3"><title>%s: %s = %s, %s = %s</title></circle>',
          cx, cy, esc(l.name), esc(x), esc(num(xv)), esc(l.key or "y"), esc(num(yv)))
        if seg_len == 0 then seg_start = #dots end
        seg_len = seg_len + 1
      else
        end_segment()
        pen_down = false
      end
    end
    end_segment()
    -- markers = true: points only, always visible (firings on a metric's curve)
    out[#out + 1] = string.format('<g class="series%s" data-series="%s">', l.markers and " markers" or "", esc(l.name))
    out[#out + 1] = string.format('<path class="line" fill="none" stroke="%s" stroke-width="1.6" ' ..
      'data-rows="%d" data-points="%d" d="%s"/>', l.markers and "none" or color, l.rows, npts, table.concat(d, " "))
    out[#out + 1] = string.format('<g class="pts" fill="%s">%s</g></g>\n', color, table.concat(dots))
  end
  if not has_data then
    out[#out + 1] = string.format('<text class="nodata" x="%s" y="%s" text-anchor="middle">no data</text>\n',
      coord(ml + pw / 2), coord(mt + ph / 2))
  end
  out[#out + 1] = "</svg>\n<ul class=\"legend\">"
  for i, l in ipairs(lines) do
    out[#out + 1] = string.format('<li><span class="swatch" style="background:%s"></span>%s</li>',
      M.PALETTE[(i - 1) % #M.PALETTE + 1], esc(l.name))
  end
  out[#out + 1] = "</ul></section>\n"
end

-- }======

local CSS = [[
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#777;font-size:12px;margin:0 0 16px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #e4e4e4;padding:4px 10px;text-align:left;white-space:nowrap}
th{background:#f6f6f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.empty{color:#999;font-style:italic}
svg.chart{display:block;max-width:100%;height:auto;font-size:11px}
svg.chart .plot{fill:#fff;stroke:#ccc}
svg.chart .grid{stroke:#eee}
svg.chart .tick{stroke:#999}
svg.chart text{fill:#555}
svg.chart .label{fill:#333;font-size:12px}
svg.chart circle{opacity:0}
svg.chart circle:hover{opacity:1}
svg.chart circle.lone{opacity:1}
svg.chart .markers circle{opacity:1;r:5px}
svg.chart .line:hover{stroke-width:3}
.legend{list-style:none;padding:0;margin:6px 0 0 70px;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.legend .swatch{display:inline-block;width:12px;height:3px;margin-right:6px;vertical-align:middle}
]]

-- render(spec) -> the HTML text. spec = {title=, sections={ {type="table"|"chart"|"text", ...}, ... }}
function M.render(spec, level)
  level = (level or 1) + 1
  if type(spec) ~= "table" then error("bad report (table expected, got " .. type(spec) .. ")", level) end
  local sections = spec.sections or {}
  if type(sections) ~= "table" then error("bad report (sections = a list expected)", level) end
  local title = spec.title or "runwatch report"
  local out = {"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>",
    "<meta name=\"generator\" content=\"runwatch\"/>",
    "<title>" .. esc(title) .. "</title>\n<style>\n" .. CSS .. "</style></head>\n<body>\n",
    "<h1>" .. esc(title) .. "</h1>\n",
    "<p class=\"meta\">" .. esc(spec.subtitle or ("generated " .. os.date("!%Y-%m-%d %H:%M UTC"))) .. "</p>\n"}
  local nchart = 0
  for i, s in ipairs(sections) do
    if type(s) ~= "table" then error("bad report section " .. i .. " (table expected)", level) end
    local kind = s.type or (s.text and "text") or ((s.runs or s.series) and s.y and "chart") or (s.rows and "table")
    if kind == "table" then table_section(s, out, level)
    elseif kind == "chart" then nchart = nchart + 1; chart_section(s, out, level, nchart)
    elseif kind == "text" then text_section(s, out, level)
    else error("bad report section " .. i .. " (type = \"table\", \"chart\" or \"text\" expected, got " ..
      tostring(s.type) .. ")", level) end
  end
  out[#out + 1] = "</body></html>\n"
  return table.concat(out)
end

-- html{title=, path=, sections=} -> path, or nil, err (written to path.tmp, then renamed)
function M.html(spec)
  if type(spec) ~= "table" then error("bad argument #1 to 'html' (table expected, got " .. type(spec) .. ")", 2) end
  if type(spec.path) ~= "string" or spec.path == "" then error("bad report (path = the output file expected)", 2) end
  local text = M.render(spec, 2)
  local tmp = spec.path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, "cannot write report: " .. err end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, "cannot write report " .. spec.path .. ": " .. tostring(werr or cerr)
  end
  local rok, rerr = os.rename(tmp, spec.path)
  if not rok then
    os.remove(tmp)
    return nil, "cannot write report: " .. tostring(rerr)
  end
  return spec.path
end

return M
