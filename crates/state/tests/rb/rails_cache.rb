# Rails caching and sessions against a Redis server:
# ActiveSupport::Cache::RedisCacheStore (Rails 6.1) and the redis-store session
# store (ActionDispatch::Session::RedisStore) driven through Rack requests.
#
# Usage: ruby rails_cache.rb PORT   (exit 0 = all good)
require "active_support"
require "active_support/cache"
require "active_support/cache/redis_cache_store"
require "redis"

port = Integer(ARGV[0])
url = "redis://127.0.0.1:#{port}/3"

def check(cond, what)
  raise "check failed: #{what}" unless cond
end

raw = Redis.new(url: url)
raw.flushdb

cache = ActiveSupport::Cache::RedisCacheStore.new(url: url, namespace: "app",
                                                  error_handler: ->(method:, returning:, exception:) { raise exception })
check(cache.write("user/1", { "name" => "alice" }, expires_in: 60), "write")
check(cache.read("user/1") == { "name" => "alice" }, "read")
ttl = raw.ttl("app:user/1")
check(ttl > 0 && ttl <= 60, "expires_in sets a TTL (#{ttl})")
calls = 0
v = 2.times.map { cache.fetch("computed", expires_in: 30) { calls += 1; "value" } }
check(v == %w[value value] && calls == 1, "fetch computes once")
check(cache.increment("hits", 1, expires_in: 60) == 1, "increment creates")
check(cache.increment("hits", 5) == 6 && cache.decrement("hits", 2) == 4, "increment/decrement")
check(raw.ttl("app:hits") > 0, "increment expires_in")
cache.write_multi({ "m/1" => 1, "m/2" => 2 }, expires_in: 60)
check(cache.read_multi("m/1", "m/2", "m/3") == { "m/1" => 1, "m/2" => 2 }, "read_multi")
check(cache.fetch_multi("m/1", "m/9") { |k| "made #{k}" } == { "m/1" => 1, "m/9" => "made m/9" }, "fetch_multi")
check(cache.write("nx", 1, unless_exist: true) && !cache.write("nx", 2, unless_exist: true), "unless_exist")
check(cache.exist?("m/1") && !cache.exist?("nope"), "exist?")
cache.delete_matched("m/*")
check(!cache.exist?("m/1") && !cache.exist?("m/2") && cache.exist?("user/1"), "delete_matched")
check(cache.delete("user/1") && !cache.exist?("user/1"), "delete")
cache.write("short", "x", expires_in: 1)
sleep 1.2
check(cache.read("short").nil?, "expired")
cache.clear
check(raw.keys("app:*").empty?, "clear removed the namespace")

# --- redis-store session store through Rack ---
require "action_dispatch"
require "action_controller"
require "redis-actionpack"

app = lambda do |env|
  session = env["rack.session"]
  session[:count] = (session[:count] || 0) + 1
  [200, { "Content-Type" => "text/plain" }, [session[:count].to_s]]
end
store = ActionDispatch::Session::RedisStore.new(app, servers: ["#{url}/session"], key: "_app_session",
                                                        expire_after: 120)
# As in a Rails middleware stack: the session store writes through the cookie jar.
mock = Rack::MockRequest.new(ActionDispatch::Cookies.new(store))
res = mock.get("/")
check(res.body == "1", "first request")
cookie = res["Set-Cookie"].split(";").first
res = mock.get("/", "HTTP_COOKIE" => cookie)
check(res.body == "2", "session persisted (#{res.body})")
res = mock.get("/", "HTTP_COOKIE" => cookie)
check(res.body == "3", "session persisted again")
skeys = raw.keys("session:*")
check(skeys.size == 1, "one session key (#{skeys})")
sttl = raw.ttl(skeys.first)
check(sttl > 0 && sttl <= 120, "session ttl #{sttl}")
check(mock.get("/").body == "1", "no cookie, new session")

puts "rails: all checks passed"
