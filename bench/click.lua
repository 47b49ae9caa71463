-- wrk script: every request to BENCH_PATH comes from a visitor of its own, as a proxy would forward
-- it (X-Real-IP): a random public address (one in five IPv6), a real browser's user agent and
-- Accept-Language. Nine user agents in ten come from a pool of a few hundred (the head of real
-- traffic, which the per-process caches keep); one in ten is a build never seen before.
local path = os.getenv("BENCH_PATH") or "/"

-- First octets of addresses in public use: none private, loopback, link-local, shared or multicast.
local octets = {}
for first = 1, 223 do
  if first ~= 10 and first ~= 100 and first ~= 127 and first ~= 169 and first ~= 172 and first ~= 192 then
    octets[#octets + 1] = first
  end
end

local templates = {
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.%d Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (iPad; CPU OS 16_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.%d Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel %d) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12%d.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Linux; Android 13; SM-A5%d6B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/2%d.0 Chrome/115.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Linux; Android 13; SM-X7%d0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12%d.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12%d.0.%d.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_%d) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.%d Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:12%d.0) Gecko/20100101 Firefox/12%d.0",
  "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/11%d.0.0.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/44%d.0.0.0;]",
  "Mozilla/5.0 (compatible; Googlebot/2.%d; +http://www.google.com/bot.html) %d",
}
local languages = {
  "en-US,en;q=0.9", "en-GB,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "de-CH, de;q=0.9", "fr-FR,fr;q=0.9",
  "es-ES,es;q=0.9", "es-419,es;q=0.9", "pt-BR,pt;q=0.9", "it-IT,it;q=0.9", "ru-RU,ru;q=0.9",
  "ja-JP,ja;q=0.9", "zh-CN,zh;q=0.9", "tr-TR,tr;q=0.9", "pl-PL,pl;q=0.9", "id-ID,id;q=0.9", "*",
}
local pool = {}

init = function(args)
  math.randomseed(os.time())
  for _, template in ipairs(templates) do
    for a = 0, 9 do
      for b = 0, 4 do
        pool[#pool + 1] = string.format(template, a, b)
      end
    end
  end
end

local function address()
  if math.random(5) == 1 then
    return string.format("2a%02x:%x:%x:%x::%x", math.random(0, 255), math.random(0, 65535),
      math.random(0, 65535), math.random(0, 65535), math.random(1, 65535))
  end
  return string.format("%d.%d.%d.%d", octets[math.random(#octets)], math.random(0, 255),
    math.random(0, 255), math.random(1, 254))
end

local function user_agent()
  if math.random(10) == 1 then
    return string.format(templates[math.random(#templates)], math.random(0, 9), math.random(100, 99999))
  end
  return pool[math.random(#pool)]
end

request = function()
  return wrk.format("GET", path, {
    ["X-Real-IP"] = address(),
    ["User-Agent"] = user_agent(),
    ["Accept-Language"] = languages[math.random(#languages)],
  })
end
