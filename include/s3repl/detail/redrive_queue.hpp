#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Keys whose destination may hold stale bytes: an unconditional replica write
// landed after a newer generation had won. Each key once, however often it is
// queued; taken whole by the server's re-drive.
class RedriveQueue {
  public:
    using Key = std::pair<std::string, std::string>; // (bucket, key)

    void add(std::string_view bucket, std::string_view key) {
        Key entry{std::string(bucket), std::string(key)};
        std::lock_guard<std::mutex> lock(mutex_);
        keys_.insert(std::move(entry));
    }

    std::vector<Key> take() {
        std::set<Key> taken;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            taken.swap(keys_);
        }
        return std::vector<Key>(taken.begin(), taken.end());
    }

  private:
    std::mutex mutex_;
    std::set<Key> keys_; // guarded by mutex_
};

} // namespace detail
} // namespace v0
} // namespace s3repl
