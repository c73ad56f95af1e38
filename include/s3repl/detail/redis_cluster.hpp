#pragma once

// Where each Redis command goes: one server, or Redis Cluster's masters by
// key slot. For a cluster it keeps the slot map (CLUSTER SLOTS), a
// connection pool per master, and follows the redirections every cluster
// client must: MOVED (the slot lives elsewhere now: refresh the map, send
// again), ASK (the slot is migrating: send ASKING and the command to the
// named node, once), TRYAGAIN (a multi-key command met a slot half
// migrated: wait a little, send again), each command at most
// max_redirections times. A pipeline is split per node, one round trip per
// node, and the replies come back in the commands' order.

#include "s3repl/detail/redis_connection.hpp"
#include "s3repl/detail/redis_slot.hpp"
#include "s3repl/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// A Redis Cluster to connect to: any of its nodes as "host:port,host:port"
/// (the client reads the rest from CLUSTER SLOTS), and the options of each
/// node's connections (their host and port are ignored).
struct RedisClusterOptions {
    std::string seeds = "127.0.0.1:7000";
    RedisOptions node;
    /// How often one command may be redirected (MOVED, ASK, TRYAGAIN)
    /// before the call fails with BackendError.
    int max_redirections = 16;
};

namespace detail {

class RedisRouter {
  public:
    // One server: every command goes to it.
    explicit RedisRouter(RedisOptions options) : node_(options), max_redirections_(0), cluster_(false) {
        add_node(options.host, options.port);
    }
    // Redis Cluster, from its seed nodes; the slot map is read on first use.
    explicit RedisRouter(const RedisClusterOptions& options)
        : node_(options.node), max_redirections_(std::max(options.max_redirections, 1)), cluster_(true),
          slots_(redis_slot_count, -1) {
        std::string_view rest = options.seeds;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            const std::string_view seed = rest.substr(0, comma);
            const std::size_t colon = seed.rfind(':');
            if (colon == std::string_view::npos || colon == 0 || colon + 1 == seed.size())
                throw InvalidArgument("RedisClusterOptions::seeds: not host:port: " + std::string(seed));
            add_node(std::string(seed.substr(0, colon)), port_of(seed.substr(colon + 1)));
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        if (pools_.empty()) throw InvalidArgument("RedisClusterOptions::seeds: no node");
    }

    const RedisOptions& node_options() const noexcept { return node_; }

    // Each command to its key's (words[1]) master; error replies returned.
    std::vector<RedisReply> pipeline(const std::vector<RedisCommand>& commands, const char* where) {
        return route(commands, where, [where](RedisConnection& c, const std::vector<RedisCommand>& batch) {
            return c.pipeline(batch, where);
        });
    }
    // One command; an error reply throws BackendError with Redis's message.
    RedisReply command(const RedisCommand& words, const char* where) {
        RedisReply reply = std::move(pipeline({words}, where).front());
        if (reply.is_error()) throw BackendError(std::string(where) + ": " + reply.text);
        return reply;
    }
    // EVALSHA of each call ([numkeys, keys..., args...]) to its first key's master.
    std::vector<RedisReply> eval(RedisScript& script, const std::vector<RedisCommand>& calls) {
        return route(calls, script.name(), [&script](RedisConnection& c, const std::vector<RedisCommand>& batch) {
            return c.eval(script, batch);
        });
    }

  private:
    static int port_of(std::string_view text) {
        int port = 0;
        for (const char c : text) {
            if (c < '0' || c > '9' || port > 65535) throw InvalidArgument("a Redis node's port is not a number");
            port = port * 10 + (c - '0');
        }
        return port;
    }

    std::size_t add_node(const std::string& host, int port) { // under mutex_ (or in a constructor)
        const std::string address = host + ":" + std::to_string(port);
        const auto found = index_.find(address);
        if (found != index_.end()) return found->second;
        RedisOptions o = node_;
        o.host = host;
        o.port = port;
        pools_.push_back(std::make_unique<RedisPool>(std::move(o)));
        index_.emplace(address, pools_.size() - 1);
        return pools_.size() - 1;
    }

    // The pool of the key's slot's master; nullptr when the map has no master for it.
    RedisPool* pool_for(const std::string& key) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!cluster_) return pools_.front().get();
        const int node = slots_[redis_key_slot(key)];
        return node < 0 ? nullptr : pools_[static_cast<std::size_t>(node)].get();
    }
    RedisPool* pool_at(const std::string& address) {
        const std::size_t colon = address.rfind(':');
        std::lock_guard<std::mutex> lock(mutex_);
        return pools_[add_node(address.substr(0, colon), port_of(std::string_view(address).substr(colon + 1)))].get();
    }

    // Reads CLUSTER SLOTS from the first node that answers.
    void refresh() {
        std::vector<RedisPool*> nodes;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (const auto& pool : pools_) nodes.push_back(pool.get());
        }
        std::string failures;
        for (RedisPool* pool : nodes) {
            try {
                RedisReply map;
                {
                    auto c = pool->lease();
                    map = c->command({"CLUSTER", "SLOTS"}, "CLUSTER SLOTS");
                }
                std::lock_guard<std::mutex> lock(mutex_);
                std::fill(slots_.begin(), slots_.end(), -1);
                for (const RedisReply& range : map.elements) {
                    if (range.elements.size() < 3 || range.elements[2].elements.size() < 2)
                        throw BackendError("CLUSTER SLOTS: an unexpected reply");
                    const RedisReply& master = range.elements[2];
                    const std::string host =
                        master.elements[0].text.empty() ? pool->options().host : master.elements[0].text;
                    const auto node = static_cast<int>(add_node(host, static_cast<int>(master.elements[1].integer)));
                    for (long long slot = range.elements[0].integer;
                         slot <= range.elements[1].integer && slot < redis_slot_count; ++slot)
                        slots_[static_cast<std::size_t>(slot)] = node;
                }
                return;
            } catch (const BackendError& e) {
                failures += std::string(" ") + e.what();
            }
        }
        throw BackendError("CLUSTER SLOTS: no node answered:" + failures);
    }

    template <class Send>
    std::vector<RedisReply> route(const std::vector<RedisCommand>& items, const char* where, Send&& send) {
        if (!cluster_) {
            auto c = pools_.front()->lease();
            return send(*c.operator->(), items);
        }
        std::vector<RedisReply> replies(items.size());
        std::vector<std::size_t> todo(items.size());
        for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
        std::map<std::size_t, std::string> asked; // item -> the node an ASK named
        std::chrono::milliseconds wait{1};
        for (int round = 0; !todo.empty(); ++round) {
            if (round > max_redirections_)
                throw BackendError(std::string(where) + ": redirected more than " + std::to_string(max_redirections_) +
                                   " times: " + replies[todo.front()].text);
            std::map<RedisPool*, std::vector<std::size_t>> groups;
            bool unmapped = false;
            for (const std::size_t i : todo) {
                const auto ask = asked.find(i);
                RedisPool* pool = ask != asked.end() ? pool_at(ask->second) : pool_for(items[i].at(1));
                if (pool == nullptr)
                    unmapped = true;
                else
                    groups[pool].push_back(i);
            }
            if (unmapped) { // no map yet, or it has a hole: read it and route again
                refresh();
                continue;
            }
            for (auto& group : groups) {
                auto c = group.first->lease();
                if (asked.count(group.second.front()) != 0) {
                    for (const std::size_t i : group.second) {
                        c->command({"ASKING"}, "ASKING");
                        replies[i] = std::move(send(*c.operator->(), {items[i]}).front());
                    }
                    continue;
                }
                std::vector<RedisCommand> batch;
                for (const std::size_t i : group.second) batch.push_back(items[i]);
                std::vector<RedisReply> got = send(*c.operator->(), batch);
                for (std::size_t j = 0; j < got.size(); ++j) replies[group.second[j]] = std::move(got[j]);
            }
            std::vector<std::size_t> again;
            bool moved = false, busy = false;
            asked.clear();
            for (const std::size_t i : todo) {
                const RedisReply& r = replies[i];
                if (!r.is_error()) continue;
                if (r.text.compare(0, 6, "MOVED ") == 0) {
                    moved = true;
                } else if (r.text.compare(0, 4, "ASK ") == 0) {
                    asked.emplace(i, r.text.substr(r.text.rfind(' ') + 1));
                } else if (r.text.compare(0, 8, "TRYAGAIN") == 0) {
                    busy = true;
                } else {
                    continue;
                }
                again.push_back(i);
            }
            if (moved) refresh();
            if (busy) {
                std::this_thread::sleep_for(wait);
                wait = std::min(wait * 2, std::chrono::milliseconds(50));
            }
            todo.swap(again);
        }
        return replies;
    }

    const RedisOptions node_;
    const int max_redirections_;
    const bool cluster_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<RedisPool>> pools_; // guarded by mutex_ (grows only: pointers stay)
    std::map<std::string, std::size_t> index_;      // guarded by mutex_: "host:port" -> pools_ index
    std::vector<int> slots_;                        // guarded by mutex_: slot -> pools_ index, -1 unknown
};

} // namespace detail
} // namespace v0
} // namespace s3repl
