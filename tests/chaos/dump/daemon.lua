-- Prints, as one JSON object {"e/p/id": [steps]}, the history rows the chaos scenarios' daemons
-- recorded (their script is also named daemon.lua, so state.get sees the same namespace).
local out = json.object({})
for _, k in ipairs(state.keys("rows:")) do out[k:sub(6)] = state.get(k) end
print(json.encode(out))
