-- IIB's REST face on top of Envoy's gRPC-JSON transcoder (see docs/rest-facade.md).
-- Requests: HEAD is served as GET without a body, as Flask does.
-- Responses: the x-http-status metadata sent by the service becomes the HTTP status (201, 410,
-- 415...), gRPC headers are dropped, and the transcoder's {"code":..,"message":..} error body is
-- reshaped into IIB's {"error": "<message>"}.

local function message_token(body)
  -- the JSON string that follows "message": in the transcoder's error body, escapes kept
  local s, e = body:find('"message":"', 1, true)
  if s == nil then return '""' end
  local i = e + 1
  while i <= #body do
    local c = body:sub(i, i)
    if c == '\\' then
      i = i + 2
    elseif c == '"' then
      return body:sub(e, i)
    else
      i = i + 1
    end
  end
  return '""'
end

function envoy_on_request(handle)
  local headers = handle:headers()
  if headers:get(":method") == "HEAD" then
    headers:replace(":method", "GET")
    handle:streamInfo():dynamicMetadata():set("iib.rest", "head", "1")
  end
end

function envoy_on_response(handle)
  local headers = handle:headers()
  if (headers:get("content-type") or ""):sub(1, 16) == "application/grpc" then
    return -- a native gRPC exchange, not a transcoded one
  end
  local status = headers:get("x-http-status")
  if status ~= nil then headers:replace(":status", status) end
  for _, name in ipairs({"x-http-status", "grpc-status", "grpc-message",
                         "grpc-accept-encoding", "grpc-encoding"}) do
    headers:remove(name)
  end
  local meta = handle:streamInfo():dynamicMetadata():get("iib.rest")
  if meta ~= nil and meta["head"] == "1" then
    local length = headers:get("content-length")
    handle:body():setBytes("")
    if length ~= nil then handle:headers():replace("content-length", length) end
    return
  end
  -- all header work is done: the headers object must not be used after body()
  if tonumber(headers:get(":status")) >= 400 and headers:get("content-type") == "application/json" then
    local body = handle:body()
    if body ~= nil then
      local text = body:getBytes(0, body:length())
      if text:sub(1, 8) == '{"code":' then
        body:setBytes('{"error":' .. message_token(text) .. '}\n')
      end
    end
  end
end
