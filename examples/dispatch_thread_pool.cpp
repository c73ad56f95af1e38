// How a server wires s3repl together: the PUT path commits the object in
// generation order and stamps PENDING, the copy runs on a thread pool and
// writes the replica conditionally (an older copy never overwrites a newer
// one), a re-drive picks up FAILED and stuck PENDING entries, and a sweeper
// keeps the status map bounded. Prints what happens.
#include <s3repl/s3repl.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using Metadata = std::map<std::string, std::string>;

struct Object {
    std::string body;
    Metadata metadata;
    s3repl::TagSet tags;
    std::string etag; // set by Storage
};

// The demo server's buckets, in memory, with S3's conditional writes. A
// bucket taken offline refuses writes, standing in for an unreachable
// destination. It is also the destination replicate_object writes to.
class Storage {
  public:
    // The source PUT's commit: the bytes are already received, this only swaps them in.
    void store(const std::string& bucket, const std::string& key, Object object) {
        std::lock_guard<std::mutex> lock(mutex_);
        object.etag = std::to_string(++last_etag_);
        objects_[bucket + "/" + key] = std::move(object);
    }
    std::optional<Object> get(const std::string& bucket, const std::string& key) const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = objects_.find(bucket + "/" + key);
        if (found == objects_.end()) return std::nullopt;
        return found->second;
    }

    // ---- the destination contract (s3repl/destination.hpp) ----
    std::optional<s3repl::ReplicaState> head(const std::string& bucket, const std::string& key) const {
        const std::optional<Object> replica = get(bucket, key);
        if (!replica) return std::nullopt;
        return s3repl::ReplicaState{s3repl::replica_generation_of(replica->metadata), replica->etag};
    }
    s3repl::WriteResult put(const std::string& bucket, const std::string& key, const std::string& body,
                            const Metadata& metadata, const s3repl::WriteCondition& condition) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (offline_.count(bucket) != 0) return s3repl::WriteResult::Failed;
        const auto found = objects_.find(bucket + "/" + key);
        if (condition.if_none_match && found != objects_.end()) return s3repl::WriteResult::PreconditionFailed;
        if (condition.if_match && (found == objects_.end() || found->second.etag != *condition.if_match))
            return s3repl::WriteResult::PreconditionFailed;
        objects_[bucket + "/" + key] = Object{body, metadata, {}, std::to_string(++last_etag_)};
        return s3repl::WriteResult::Written;
    }

    void set_online(const std::string& bucket, bool online) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (online)
            offline_.erase(bucket);
        else
            offline_.insert(bucket);
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, Object> objects_; // guarded by mutex_
    std::set<std::string> offline_;         // guarded by mutex_
    unsigned long last_etag_ = 0;           // guarded by mutex_
};

// A minimal fixed-size pool; a real server has its own executor
// (asio::thread_pool, folly::CPUThreadPoolExecutor, ...).
class ThreadPool {
  public:
    explicit ThreadPool(unsigned threads) {
        for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            closing_ = true;
        }
        ready_.notify_all();
        for (std::thread& worker : workers_) worker.join();
    }
    void post(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            tasks_.push_back(std::move(task));
            ++unfinished_;
        }
        ready_.notify_one();
    }
    void wait_idle() {
        std::unique_lock<std::mutex> lock(mutex_);
        idle_.wait(lock, [this] { return unfinished_ == 0; });
    }

  private:
    void work() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            ready_.wait(lock, [this] { return closing_ || !tasks_.empty(); });
            if (tasks_.empty()) return; // closing, and drained
            std::function<void()> task = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            task();
            lock.lock();
            if (--unfinished_ == 0) idle_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable ready_, idle_;
    std::deque<std::function<void()>> tasks_;
    std::size_t unfinished_ = 0;
    bool closing_ = false;
    std::vector<std::thread> workers_;
};

} // namespace

int main() {
    Storage storage;
    // ---- README snippet -----------------------------------------------------------------------
    s3repl::ReplicationManager manager;
    ThreadPool pool(4);
    s3repl::StaleSweeper sweeper(
        manager, s3repl::SweepPolicy{}, std::chrono::minutes(10),
        [](std::size_t swept, std::chrono::nanoseconds) { std::printf("swept %zu\n", swept); });

    // Runs one copy on the pool; `storage` is the destination (head + conditional put).
    auto replicate = [&](s3repl::ReplicationJob job, Object source) {
        pool.post([&manager, &storage, job = std::move(job), source = std::move(source)] {
            const auto outcome = s3repl::replicate_object(manager, job, source.body, source.metadata, storage);
            std::printf("%s generation %llu: %s after %d attempt(s)\n", job.source_key.c_str(),
                        static_cast<unsigned long long>(job.generation), s3repl::to_string(outcome.result).data(),
                        outcome.attempts);
        });
    };

    // The PUT handler, once the upload is received: the commit swaps it in under the key's commit
    // lock, so generations follow commits; a HEAD now answers PENDING.
    auto on_put = [&](const std::string& bucket, const std::string& key, Object object) {
        // One job per destination bucket the rules select.
        for (auto& job : s3repl::begin_replication(manager, bucket, key, object.tags,
                                                   [&](std::uint64_t) { storage.store(bucket, key, object); }))
            replicate(std::move(job), object);
    };

    // Re-drive FAILED destinations and PENDING ones older than `pending_age` (at startup, before
    // serving, pass 0: every PENDING task died in the crash). Only those destinations are copied
    // again, at the entry's generation, so a newer PUT of the key supersedes the copy instead of
    // being overwritten by it.
    auto redrive = [&](std::chrono::nanoseconds pending_age) {
        auto refs = manager.failed_destinations();
        // + 1ns: the comparison is strict, and with pending_age 0 a destination stamped this very
        // second (the default clock's resolution) must count too.
        const auto now = manager.clock().now() + std::chrono::nanoseconds(1);
        for (auto& stuck : manager.stuck_pending_destinations(now, pending_age)) refs.push_back(stuck);
        for (const s3repl::DestinationRef& ref : refs)
            if (auto source = storage.get(ref.bucket, ref.key))
                for (auto& job : s3repl::redrive_jobs(manager, ref, source->tags)) replicate(std::move(job), *source);
    };
    // ---- end of README snippet ----------------------------------------------------------------

    s3repl::ReplicationRule rule;
    rule.id = "everything";
    rule.destination_bucket = "photos-replica";
    manager.put_config("photos", s3repl::ReplicationConfig{"arn:aws:iam::123456789012:role/replication", {rule}});

    std::printf("-- PUTs, with the destination online\n");
    on_put("photos", "cat.jpg", Object{"meow", {{"content-type", "image/jpeg"}}, {}, {}});
    on_put("photos", "dog.jpg", Object{"woof", {{"content-type", "image/jpeg"}}, {}, {}});
    on_put("notes", "todo.txt", Object{"no rule here", {}, {}, {}});
    pool.wait_idle();

    std::printf("-- a PUT while the destination is offline (retries after 50 and 100 ms)\n");
    storage.set_online("photos-replica", false);
    on_put("photos", "bird.jpg", Object{"tweet", {}, {}, {}});
    pool.wait_idle();

    std::printf("-- the destination is back: re-drive (bird.jpg keeps its generation)\n");
    storage.set_online("photos-replica", true);
    redrive(std::chrono::minutes(15));
    pool.wait_idle();

    std::printf("-- HEAD\n");
    for (const char* key : {"cat.jpg", "dog.jpg", "bird.jpg"}) {
        const auto status = manager.lookup_status("photos", key);
        const auto replica = storage.get("photos-replica", key);
        std::printf("photos/%s: %s; replica %s\n", key, status ? s3repl::to_aws_string(*status).data() : "none",
                    replica ? replica->metadata.at("x-amz-replication-status").c_str() : "missing");
    }
    std::printf("notes/todo.txt: %s\n", manager.lookup_status("notes", "todo.txt") ? "tracked" : "not replicated");
    const s3repl::ReplicationStats stats = manager.stats();
    std::printf("completed %zu, failed %zu, dropped %llu\n", stats.entries_completed, stats.entries_failed,
                static_cast<unsigned long long>(stats.dropped_total));
    // The sweeper's first pass is ten minutes away: it stops here, mid-interval, at once.
}
