#pragma once

// restore_json's switch on the Redis manager: freeze the active epoch's
// shards, then switch the staged epoch in, so no stamp lands in a replaced
// epoch. The freeze is a lease: a restorer that dies between its freeze and
// its switch (two round trips) would otherwise leave every call on the
// frozen state failing, so once the lease is over any caller that finds the
// state frozen aborts that restore and thaws its shards.
//
// The protocol, all of it decided on the counter's hash (one slot):
//   freeze   records `restoring` = "<restore> <deadline>" (server time,
//            ms), then sets each shard's marker "<base>x" to <restore>;
//   switch   applies only while `restoring` still names this restore;
//   abort    a caller that waited past the deadline replaces `restoring`
//            by `aborted` = <restore>, so the switch can no longer apply,
//            then deletes the markers holding <restore>, and no others: a
//            later restore's markers hold its own number, and a switched
//            restore's stay (they tell a late caller its epoch was replaced).

#include "s3repl/detail/redis_cluster.hpp"
#include "s3repl/detail/redis_connection.hpp"
#include "s3repl/detail/redis_keys.hpp"
#include "s3repl/detail/redis_scripts.hpp"
#include "s3repl/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// The deadline arithmetic is in milliseconds of Redis's own clock (TIME),
// exact in Lua's doubles until the year 287,000.
inline const char* const redis_lua_freeze_common = R"lua(
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function restoring(gen)
  local r = redis.call('HGET', gen, 'restoring')
  if not r then return nil, nil end
  local space = string.find(r, ' ', 1, true)
  return string.sub(r, 1, space - 1), tonumber(string.sub(r, space + 1))
end
)lua";

// KEYS[1] the counter's hash; ARGV old epoch, the restore's (fresh) epoch, lease ms.
inline const char* const redis_lua_freeze = R"lua(
if (redis.call('HGET', KEYS[1], 'epoch') or '0') ~= ARGV[1] then
  return redis.error_reply('RACED another restore_json switched its state in first')
end
local other, deadline = restoring(KEYS[1])
if other and server_ms() <= deadline then
  return redis.error_reply('BUSY another restore_json is switching its state in')
end
redis.call('HSET', KEYS[1], 'restoring', ARGV[2] .. ' ' .. (server_ms() + tonumber(ARGV[3])))
return 1
)lua";

// KEYS[1] the counter's hash, KEYS[2] the configurations, KEYS[3] the
// staged ones; ARGV old epoch, fresh epoch, the snapshot's counter floor.
inline const char* const redis_lua_switch = R"lua(
if (redis.call('HGET', KEYS[1], 'epoch') or '0') ~= ARGV[1] then
  return redis.error_reply('RACED another restore_json switched its state in first')
end
if restoring(KEYS[1]) ~= ARGV[2] then
  return redis.error_reply('ABORTED the freeze outlived its lease and was undone; nothing was switched')
end
redis.call('HDEL', KEYS[1], 'restoring')
local last = redis.call('HGET', KEYS[1], 'last') or '0'
if cmp(ARGV[3], last) > 0 then redis.call('HSET', KEYS[1], 'last', ARGV[3]) end
redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
return 1
)lua";

// KEYS[1] the counter's hash; ARGV the epoch the caller found frozen, and a
// restore to abort before its deadline ('' for none: its own, by a restorer
// whose switch failed). Returns the number of the restore whose markers are
// to go, or '' when there is none to thaw (yet).
inline const char* const redis_lua_abort = R"lua(
if (redis.call('HGET', KEYS[1], 'epoch') or '0') ~= ARGV[1] then return '' end
local id, deadline = restoring(KEYS[1])
if id then
  if id ~= ARGV[2] and server_ms() <= deadline then return '' end
  redis.call('HDEL', KEYS[1], 'restoring')
  redis.call('HSET', KEYS[1], 'aborted', id)
  return id
end
return redis.call('HGET', KEYS[1], 'aborted') or ''
)lua";

// KEYS[1] a shard's marker; ARGV the aborted restore: its marker goes.
inline const char* const redis_lua_thaw = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

class RedisFreeze {
  public:
    explicit RedisFreeze(std::chrono::milliseconds lease) : lease_(lease) {}

    // Freezes every shard of epoch `old` for the restore staged as `fresh`.
    // Throws BackendError (nothing frozen, or the shards thawed again when
    // it can) when another restore switched in or is switching in.
    void freeze(RedisRouter& router, const RedisKeys& keys, std::uint64_t old, std::uint64_t fresh) {
        checked(router
                    .eval(freeze_, {{"1", keys.generation(), std::to_string(old), std::to_string(fresh),
                                     std::to_string(lease_.count())}})
                    .front());
        std::vector<RedisCommand> marks;
        for (std::size_t shard = 0; shard < redis_shard_count; ++shard)
            marks.push_back({"SET", keys.shard_base(shard, old) + "x", std::to_string(fresh)});
        for (const RedisReply& reply : router.pipeline(marks, "restore_json")) checked(reply);
    }

    // Switches `fresh` in (its configurations and the counter's floor with
    // it) in one script. Throws BackendError when it did not apply.
    void switch_in(RedisRouter& router, const RedisKeys& keys, std::uint64_t old, std::uint64_t fresh,
                   std::uint64_t floor) {
        checked(router
                    .eval(switch_, {{"3", keys.generation(), keys.configs(), keys.staged_configs(fresh),
                                     std::to_string(old), std::to_string(fresh), std::to_string(floor)}})
                    .front());
    }

    // A call found epoch `frozen` frozen: thaws it if the restore that froze
    // it is over its lease (or is `own`, 0 for none). Returns whether a
    // shard thawed, so the caller may call again at once.
    bool thaw_abandoned(RedisRouter& router, const RedisKeys& keys, std::uint64_t frozen, std::uint64_t own = 0) {
        const RedisReply id = checked(router
                                          .eval(abort_, {{"1", keys.generation(), std::to_string(frozen),
                                                          own == 0 ? std::string() : std::to_string(own)}})
                                          .front());
        if (id.text.empty()) return false;
        std::vector<RedisCommand> thaws;
        for (std::size_t shard = 0; shard < redis_shard_count; ++shard)
            thaws.push_back({"1", keys.shard_base(shard, frozen) + "x", id.text});
        bool thawed = false;
        for (const RedisReply& reply : router.eval(thaw_, thaws)) thawed = checked(reply).integer == 1 || thawed;
        return thawed;
    }

  private:
    static const RedisReply& checked(const RedisReply& reply) {
        if (reply.is_error()) throw BackendError("restore_json: " + reply.text);
        return reply;
    }
    static std::string text(const char* body) { return std::string(redis_lua_common) + redis_lua_freeze_common + body; }

    const std::chrono::milliseconds lease_;
    RedisScript freeze_{"restore_freeze", text(redis_lua_freeze)};
    RedisScript switch_{"restore_switch", text(redis_lua_switch)};
    RedisScript abort_{"restore_abort", text(redis_lua_abort)};
    RedisScript thaw_{"restore_thaw", text(redis_lua_thaw)};
};

} // namespace detail
} // namespace v0
} // namespace s3repl
