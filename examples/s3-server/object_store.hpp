#pragma once

#include "http_text.hpp"
#include "s3_error.hpp"

#include <s3repl/rules.hpp>
#include <s3repl/status.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3server {

/// Headers an object carries back on GET and HEAD, by lower-case name:
/// content-type, x-amz-meta-*, x-amz-storage-class, and on a replica
/// x-amz-replication-status: REPLICA.
using HeaderMap = std::map<std::string, std::string>;

/// Everything about an object except its bytes.
struct ObjectMeta {
    HeaderMap headers;
    s3repl::TagSet tags;
    /// The replication generation of the PUT that wrote these bytes; 0 when
    /// the PUT matched no rule. Lets a restart find replications the
    /// snapshot missed, and lets a status lookup ignore a stale entry.
    std::uint64_t generation = 0;
    std::string etag; ///< quoted, as in the ETag header
    std::uint64_t size = 0;
    SystemTime last_modified{};
};

/// How a replication ended, kept beside the source object so the status
/// outlives the manager's entry (which the sweeper removes after its TTL).
struct TerminalStatus {
    std::uint64_t generation = 0;
    s3repl::ReplicationStatus status = s3repl::ReplicationStatus::Completed;
};

/// Buckets and objects in a directory:
///
///     DIR/snapshot.json                      the manager's snapshot
///     DIR/tmp/                               files being written
///     DIR/buckets/<bucket>/objects/k<key>    one line of JSON (ObjectMeta), then the bytes
///     DIR/buckets/<bucket>/status/k<key>     TerminalStatus of the last replication
///
/// `<key>` is the key percent-encoded, so every file name is safe; a key whose
/// name would not fit a file name is refused with KeyTooLongError. Every
/// write goes to tmp/, is fsynced, renamed over its target and the directory
/// fsynced: a crash leaves the old object or the new one, never a torn one,
/// and concurrent PUTs of one key end with one whole winner. Thread-safe.
class ObjectStore {
  public:
    explicit ObjectStore(std::filesystem::path root) : root_(std::move(root)) {
        std::filesystem::create_directories(root_ / "buckets");
        // Leftovers of writes a crash interrupted: never renamed, never visible.
        std::filesystem::remove_all(root_ / "tmp");
        std::filesystem::create_directories(root_ / "tmp");
    }

    std::filesystem::path snapshot_path() const { return root_ / "snapshot.json"; }

    /// False when the bucket exists already.
    bool create_bucket(const std::string& bucket) {
        std::error_code ec;
        if (!std::filesystem::create_directory(bucket_dir(bucket), ec)) {
            if (ec) throw std::system_error(ec, "create bucket " + bucket);
            return false;
        }
        std::filesystem::create_directories(bucket_dir(bucket) / "objects");
        std::filesystem::create_directories(bucket_dir(bucket) / "status");
        sync_directory(root_ / "buckets");
        return true;
    }

    bool bucket_exists(const std::string& bucket) const {
        return std::filesystem::is_directory(bucket_dir(bucket) / "objects");
    }

    /// Names and creation times, sorted by name.
    std::vector<std::pair<std::string, SystemTime>> list_buckets() const {
        std::vector<std::pair<std::string, SystemTime>> buckets;
        for (const auto& entry : std::filesystem::directory_iterator(root_ / "buckets"))
            buckets.emplace_back(entry.path().filename().string(), file_time(entry.path()));
        std::sort(buckets.begin(), buckets.end());
        return buckets;
    }

    /// Stores the object, filling in etag, size and last_modified, and
    /// returns the metadata as stored.
    ObjectMeta put(const std::string& bucket, const std::string& key, ObjectMeta meta, std::string_view body) {
        meta.etag = etag_of(body);
        meta.size = body.size();
        meta.last_modified = std::chrono::system_clock::now();
        write_atomically(object_path(bucket, key),
                         to_json(meta).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n', body);
        return meta;
    }

    std::optional<ObjectMeta> head(const std::string& bucket, const std::string& key) const {
        std::ifstream in(object_path(bucket, key), std::ios::binary);
        if (!in) return std::nullopt;
        return read_meta(in, object_path(bucket, key));
    }

    std::optional<std::pair<ObjectMeta, std::string>> get(const std::string& bucket, const std::string& key) const {
        std::ifstream in(object_path(bucket, key), std::ios::binary);
        if (!in) return std::nullopt;
        ObjectMeta meta = read_meta(in, object_path(bucket, key));
        std::string body(meta.size, '\0');
        if (!in.read(body.data(), static_cast<std::streamsize>(body.size())))
            throw std::runtime_error("truncated object file " + object_path(bucket, key).string());
        return std::make_pair(std::move(meta), std::move(body));
    }

    /// False when there was no such object.
    bool remove(const std::string& bucket, const std::string& key) {
        std::filesystem::remove(status_path(bucket, key));
        const bool removed = std::filesystem::remove(object_path(bucket, key));
        if (removed) sync_directory(object_path(bucket, key).parent_path());
        return removed;
    }

    /// Every object of the bucket with its metadata, sorted by key (S3's
    /// byte order). Objects removed while listing are skipped.
    std::vector<std::pair<std::string, ObjectMeta>> list(const std::string& bucket) const {
        std::vector<std::pair<std::string, ObjectMeta>> objects;
        for (const auto& entry : std::filesystem::directory_iterator(bucket_dir(bucket) / "objects")) {
            std::ifstream in(entry.path(), std::ios::binary);
            if (!in) continue;
            objects.emplace_back(key_of(entry.path().filename().string()), read_meta(in, entry.path()));
        }
        std::sort(objects.begin(), objects.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        return objects;
    }

    /// Calls visit(bucket, key, const ObjectMeta&) for every object.
    template <class Visitor>
    void for_each_object(Visitor&& visit) const {
        for (const auto& bucket : list_buckets())
            for (const auto& object : list(bucket.first)) visit(bucket.first, object.first, object.second);
    }

    void set_terminal_status(const std::string& bucket, const std::string& key, TerminalStatus status) {
        const nlohmann::json json = {{"generation", status.generation},
                                     {"status", std::string(s3repl::to_aws_string(status.status))}};
        write_atomically(status_path(bucket, key), json.dump(), {});
    }

    std::optional<TerminalStatus> terminal_status(const std::string& bucket, const std::string& key) const {
        std::ifstream in(status_path(bucket, key), std::ios::binary);
        if (!in) return std::nullopt;
        const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
        if (json.is_discarded()) return std::nullopt; // a status is a cache of the manager's; losing it is safe
        const auto status = s3repl::parse_aws_status(json.value("status", ""));
        if (!status) return std::nullopt;
        return TerminalStatus{json.value("generation", std::uint64_t{0}), *status};
    }

  private:
    std::filesystem::path bucket_dir(const std::string& bucket) const { return root_ / "buckets" / bucket; }

    std::filesystem::path object_path(const std::string& bucket, const std::string& key) const {
        return bucket_dir(bucket) / "objects" / file_name_of(key);
    }
    std::filesystem::path status_path(const std::string& bucket, const std::string& key) const {
        return bucket_dir(bucket) / "status" / file_name_of(key);
    }

    // The 'k' keeps keys such as "." and ".." from naming directories.
    static std::string file_name_of(const std::string& key) {
        std::string name = 'k' + url_encode(key);
        if (name.size() > 255)
            throw S3Error("KeyTooLongError", 400, "Your key is too long (this demo stores a key in one file name)");
        return name;
    }
    static std::string key_of(const std::string& file_name) { return url_decode(file_name.substr(1), false); }

    static SystemTime file_time(const std::filesystem::path& path) {
        struct stat info {};
        if (::stat(path.c_str(), &info) != 0) return {};
        return SystemTime(std::chrono::seconds(info.st_mtime));
    }

    // Not an MD5 (that would need a crypto dependency): clients treat a
    // single-part ETag as opaque, and this one changes when the bytes do.
    static std::string etag_of(std::string_view body) {
        std::uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
        for (const char c : body) {
            a = (a ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
            b = (b ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL + 1;
        }
        char text[36];
        std::snprintf(text, sizeof text, "\"%016llx%016llx\"", static_cast<unsigned long long>(a),
                      static_cast<unsigned long long>(b));
        return text;
    }

    static nlohmann::json to_json(const ObjectMeta& meta) {
        return {{"headers", meta.headers},
                {"tags", meta.tags},
                {"generation", meta.generation},
                {"etag", meta.etag},
                {"size", meta.size},
                {"last_modified_ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(meta.last_modified.time_since_epoch()).count()}};
    }

    static ObjectMeta read_meta(std::istream& in, const std::filesystem::path& path) {
        std::string line;
        std::getline(in, line);
        const nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded() || !json.is_object()) throw std::runtime_error("corrupt object file " + path.string());
        ObjectMeta meta;
        meta.headers = json.value("headers", HeaderMap{});
        meta.tags = json.value("tags", s3repl::TagSet{});
        meta.generation = json.value("generation", std::uint64_t{0});
        meta.etag = json.value("etag", "");
        meta.size = json.value("size", std::uint64_t{0});
        meta.last_modified = SystemTime(std::chrono::milliseconds(json.value("last_modified_ms", std::int64_t{0})));
        return meta;
    }

    void write_atomically(const std::filesystem::path& target, std::string_view head, std::string_view body) {
        const std::filesystem::path temp =
            root_ / "tmp" / (std::to_string(::getpid()) + '-' + std::to_string(temp_counter_++));
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) throw_errno("open " + temp.string());
        const bool written = write_all(fd, head) && write_all(fd, body) && ::fsync(fd) == 0;
        const int saved_errno = errno;
        ::close(fd);
        if (!written || ::rename(temp.c_str(), target.c_str()) != 0) {
            const int error = written ? errno : saved_errno;
            ::unlink(temp.c_str());
            errno = error;
            throw_errno("write " + target.string());
        }
        sync_directory(target.parent_path());
    }

    static bool write_all(int fd, std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::write(fd, data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    static void sync_directory(const std::filesystem::path& dir) {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw_errno("open directory " + dir.string());
        const int rc = ::fsync(fd);
        ::close(fd);
        if (rc != 0) throw_errno("fsync directory " + dir.string());
    }

    [[noreturn]] static void throw_errno(const std::string& what) {
        throw std::system_error(errno, std::generic_category(), what);
    }

    std::filesystem::path root_;
    std::atomic<std::uint64_t> temp_counter_{0};
};

} // namespace s3server
