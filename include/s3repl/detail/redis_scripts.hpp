#pragma once

// The Redis manager's Lua scripts. Each runs atomically on the server, so a
// stamp, a forget or a sweep batch is applied whole or not at all. Every key
// a script touches carries the hash tag of KEYS[1] (one slot: Redis Cluster
// runs it on one node); the per-shard keys are built from ARGV[1], the
// shard's base ("{<prefix>:<shard>}:").
//
// Generations and times are compared as decimal strings (cmp): Lua's numbers
// are doubles, exact only to 2^53, and generations reach 2^64-1.
//
// Epochs: every script on a shard's keys first checks the shard's marker
// ("<base>x", set by restore_json when it replaces that epoch) and answers
// STALE instead of touching a replaced epoch, so no stamp is ever applied
// to an orphaned one: the client re-reads the active epoch and calls again.

#include <string>

namespace s3repl {
inline namespace v0 {
namespace detail {

inline const char* const redis_lua_common = R"lua(
local function frozen(base)
  return redis.call('EXISTS', base .. 'x') == 1
end
local stale = 'STALE this epoch of the state was replaced by restore_json'
local function cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local function split3(v)
  local i = string.find(v, ':', 1, true)
  local j = string.find(v, ':', i + 1, true)
  return string.sub(v, 1, i - 1), string.sub(v, i + 1, j - 1), string.sub(v, j + 1)
end
local function destinations(e)
  local all = redis.call('HGETALL', e)
  local list, n = {}, 0
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'd:' then
      local s, t, c = split3(all[i + 1])
      list[string.sub(all[i], 3)] = {s, t, c}
      n = n + 1
    end
  end
  return list, n
end
local function copying(list)
  for _, d in pairs(list) do
    if d[1] == '0' then return true end
  end
  return false
end
local function parts(name)
  local i = string.find(name, ':', 1, true)
  local p = i + tonumber(string.sub(name, 1, i - 1)) + 1
  local j = string.find(name, ':', p, true)
  local q = j + tonumber(string.sub(name, p, j - 1))
  return string.sub(name, 1, q), string.sub(name, q + 1)
end
local function index(base, name, old, new, score)
  if old then
    redis.call('ZREM', base .. 'z:' .. old, name)
    redis.call('HINCRBY', base .. 'n', 'c' .. old, -1)
  end
  redis.call('ZADD', base .. 'z:' .. new, score, name)
  redis.call('HINCRBY', base .. 'n', 'c' .. new, 1)
end
local function remove(base, name, status)
  local group, version = parts(name)
  redis.call('DEL', base .. 'e:' .. name)
  redis.call('ZREM', base .. 'z:' .. status, name)
  redis.call('HINCRBY', base .. 'n', 'c' .. status, -1)
  if version ~= '' then
    local k = base .. 'k:' .. group
    redis.call('SREM', k, version)
    if redis.call('SCARD', k) == 0 then
      redis.call('DEL', k)
      redis.call('SREM', base .. 'vk', group)
    end
  end
end
)lua";

// KEYS[1] the generation hash. Returns the new generation; never wraps.
inline const char* const redis_lua_mint = R"lua(
local last = redis.call('HGET', KEYS[1], 'last') or '0'
if last == '18446744073709551615' then
  return redis.error_reply('EXHAUSTED all 2^64-1 generation tokens have been issued')
end
local n = #last
local nxt
if n <= 10 then
  nxt = string.format('%.0f', tonumber(last) + 1)
else
  local hi, lo = tonumber(string.sub(last, 1, n - 10)), tonumber(string.sub(last, n - 9)) + 1
  if lo >= 1e10 then hi, lo = hi + 1, lo - 1e10 end
  nxt = string.format('%.0f%010.0f', hi, lo)
end
redis.call('HSET', KEYS[1], 'last', nxt)
redis.call('HINCRBY', KEYS[1], 'minted', 1)
return nxt
)lua";

// KEYS[1] the generation hash, ARGV[1] a floor. The counter never moves
// back; returns its value after.
inline const char* const redis_lua_raise = R"lua(
local last = redis.call('HGET', KEYS[1], 'last') or '0'
if cmp(ARGV[1], last) > 0 then
  redis.call('HSET', KEYS[1], 'last', ARGV[1])
  return ARGV[1]
end
return last
)lua";

// The stamps. KEYS[1] the entry, KEYS[2] the shard's counters. ARGV: base,
// name, group, version, mode ('u' unconditional, 'c' the object's CAS, 'd'
// one destination's CAS), generation, status, time, score, destination,
// sole ('1': the destination every enabled rule names). Returns 1 when
// accepted, 0 when refused. The rules are BasicReplicationManager's.
inline const char* const redis_lua_stamp = R"lua(
local e, base, name = KEYS[1], ARGV[1], ARGV[2]
if frozen(base) then return redis.error_reply(stale) end
local mode, gen, st, t, c, dest = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local old = redis.call('HMGET', e, 's', 'g')
local os, og = old[1], old[2]
local list, n = {}, 0
if os then list, n = destinations(e) end
local function verdict(ok)
  redis.call('HINCRBY', KEYS[2], ok and 'acc' or 'rej', 1)
  return ok and 1 or 0
end
local function created()
  if not os and ARGV[4] ~= '' then
    redis.call('SADD', base .. 'k:' .. ARGV[3], ARGV[4])
    redis.call('SADD', base .. 'vk', ARGV[3])
  end
end
local function aggregate()
  local failed, pending, nt, nc = false, false, nil, nil
  for _, d in pairs(list) do
    if d[1] == '2' then failed = true elseif d[1] == '0' then pending = true end
    if not nt or cmp(d[2], nt) > 0 then nt, nc = d[2], d[3] end
  end
  local ns = failed and '2' or (pending and '0' or '1')
  redis.call('HSET', e, 's', ns, 'g', gen, 't', nt, 'c', nc)
  index(base, name, os, ns, nc)
end
local function put(d)
  list[d] = {st, t, c}
  redis.call('HSET', e, 'd:' .. d, st .. ':' .. t .. ':' .. c)
end
local function replace(keep)
  for d, _ in pairs(list) do redis.call('HDEL', e, 'd:' .. d) end
  list = {}
  created()
  if keep then
    put(dest)
    aggregate()
  else
    redis.call('HSET', e, 's', st, 'g', gen, 't', t, 'c', c)
    index(base, name, os, st, c)
  end
  return verdict(true)
end
if mode == 'u' then return replace(false) end
if os and n > 0 and cmp(gen, og) == 0 then
  if mode == 'c' then
    local any = false
    for d, v in pairs(list) do
      if v[1] ~= '1' or st == '1' then
        put(d)
        any = true
      end
    end
    if any then aggregate() end
    return verdict(any)
  end
  local v = list[dest]
  if v and v[1] == '1' and st ~= '1' then return verdict(false) end
  put(dest)
  aggregate()
  return verdict(true)
end
if os then
  local o = cmp(gen, og)
  if o < 0 or (o == 0 and os == '1' and st ~= '1') then return verdict(false) end
end
return replace(mode == 'd' and ARGV[11] ~= '1')
)lua";

// KEYS[1] the entry, ARGV[1] its shard's base. Marks a tracked version a delete marker.
inline const char* const redis_lua_mark = R"lua(
if frozen(ARGV[1]) then return redis.error_reply(stale) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'm', '1') end
return 0
)lua";

// KEYS[1] the entry, KEYS[2] the shard's counters; ARGV base, name.
// Returns 1 when there was an entry.
inline const char* const redis_lua_forget = R"lua(
if frozen(ARGV[1]) then return redis.error_reply(stale) end
local s = redis.call('HGET', KEYS[1], 's')
if not s then return 0 end
remove(ARGV[1], ARGV[2], s)
return 1
)lua";

// One batch of the TTL sweep of one status's sorted set. KEYS[1] the set,
// KEYS[2] the shard's counters; ARGV base, status, cutoff time, cutoff
// score, skip, batch. Each candidate is checked again here: its status, its
// exact time, and for FAILED that no destination is still PENDING. Returns
// {removed, kept, examined}; kept ones stay at the front, so the next batch
// skips them.
inline const char* const redis_lua_sweep = R"lua(
if frozen(ARGV[1]) then return redis.error_reply(stale) end
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4], 'LIMIT', ARGV[5], ARGV[6])
local removed, kept = 0, 0
for _, name in ipairs(names) do
  local e = ARGV[1] .. 'e:' .. name
  local v = redis.call('HMGET', e, 's', 't')
  if not v[1] then
    redis.call('ZREM', KEYS[1], name)
  elseif v[1] == ARGV[2] and cmp(v[2], ARGV[3]) < 0 and not (v[1] == '2' and copying(destinations(e))) then
    remove(ARGV[1], name, v[1])
    removed = removed + 1
  else
    kept = kept + 1
  end
end
redis.call('HINCRBY', KEYS[2], 'swept', removed)
return {removed, kept, #names}
)lua";

// One batch of the versions rule of one shard: COMPLETED and FAILED versions
// outside their key's `latest` newest (by generation; ties with the oldest
// kept stay). KEYS[1] the shard's set of keys with versions, KEYS[2] its
// counters; ARGV base, SSCAN cursor, count, latest. Returns {cursor, removed}.
inline const char* const redis_lua_sweep_versions = R"lua(
if frozen(ARGV[1]) then return redis.error_reply(stale) end
local r = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local latest, removed = tonumber(ARGV[4]), 0
for _, group in ipairs(r[2]) do
  local versions = redis.call('SMEMBERS', ARGV[1] .. 'k:' .. group)
  if #versions > latest then
    local rows = {}
    for _, version in ipairs(versions) do
      local x = redis.call('HMGET', ARGV[1] .. 'e:' .. group .. version, 's', 'g')
      if x[1] then rows[#rows + 1] = {group .. version, x[1], x[2]} end
    end
    table.sort(rows, function(a, b) return cmp(a[3], b[3]) > 0 end)
    if #rows > latest then
      local cutoff = latest > 0 and rows[latest][3] or nil
      for _, row in ipairs(rows) do
        local e = ARGV[1] .. 'e:' .. row[1]
        if (not cutoff or cmp(row[3], cutoff) < 0) and
           (row[2] == '1' or (row[2] == '2' and not copying(destinations(e)))) then
          remove(ARGV[1], row[1], row[2])
          removed = removed + 1
        end
      end
    end
  end
end
redis.call('HINCRBY', KEYS[2], 'swept', removed)
return {r[1], removed}
)lua";

// A lookup. KEYS[1] an entry, ARGV[1] its shard's base, ARGV[2..] the
// fields to read (none: all, as HGETALL).
inline const char* const redis_lua_read = R"lua(
if frozen(ARGV[1]) then return redis.error_reply(stale) end
if #ARGV == 1 then return redis.call('HGETALL', KEYS[1]) end
return redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
)lua";

// One batch of deleting a replaced (or abandoned staged) epoch's shard.
// KEYS[1] its counters; ARGV base, batch. Deletes up to `batch` entries,
// then key groups, then the shard's own sets (its marker stays: a client
// still on this epoch is told STALE). Returns the number of keys deleted:
// below `batch`, the shard is empty.
inline const char* const redis_lua_drop = R"lua(
local base, batch, n = ARGV[1], tonumber(ARGV[2]), 0
for d = 0, 3 do
  local z = base .. 'z:' .. d
  for _, name in ipairs(redis.call('ZRANGE', z, 0, batch - n - 1)) do
    redis.call('DEL', base .. 'e:' .. name)
    redis.call('ZREM', z, name)
    n = n + 1
  end
  if n >= batch then return n end
end
for _, group in ipairs(redis.call('SPOP', base .. 'vk', batch - n)) do
  redis.call('DEL', base .. 'k:' .. group)
  n = n + 1
end
if n < batch then redis.call('DEL', KEYS[1]) end
return n
)lua";

// KEYS[1] the re-drive set: takes its members, each once.
inline const char* const redis_lua_take = R"lua(
local m = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return m
)lua";

// A script's whole text: the shared functions, then its body.
inline std::string redis_script_text(const char* body) { return std::string(redis_lua_common) + body; }

} // namespace detail
} // namespace v0
} // namespace s3repl
