#pragma once

#include "http_text.hpp"
#include "key_locks.hpp"
#include "s3_error.hpp"
#include "temp_area.hpp"

#include <s3repl/destination.hpp>
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
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3server {

/// S3's rule for bucket names: 3 to 63 of a-z 0-9 . -, starting and ending
/// with a letter or digit. It also makes the name a safe directory name
/// (never "." or ".."), which is why the store checks it too.
inline bool is_valid_bucket_name(std::string_view name) noexcept {
    if (name.size() < 3 || name.size() > 63) return false;
    for (const char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return alnum(name.front()) && alnum(name.back());
}

/// Headers an object carries back on GET and HEAD, by lower-case name:
/// content-type, x-amz-meta-*, x-amz-storage-class, and on a replica
/// x-amz-replication-status: REPLICA.
using HeaderMap = std::map<std::string, std::string>;

/// Everything about an object except its bytes.
struct ObjectMeta {
    HeaderMap headers;
    s3repl::TagSet tags;
    /// The generation the manager minted for the client PUT that committed
    /// these bytes (every client PUT has one, replicated or not); 0 for a
    /// replica, which carries its source's in x-amz-meta-s3repl-generation.
    /// Lets a status lookup ignore an entry older than the bytes.
    std::uint64_t generation = 0;
    /// Whether a rule selected the PUT when it was committed: a restart
    /// re-stamps PENDING only for those (the snapshot may have missed them).
    bool replicated = false;
    std::string etag; ///< quoted, as in the ETag header
    std::uint64_t size = 0;
    SystemTime last_modified{};
    /// The version (its file's name); empty for the unversioned object,
    /// S3's "null" version. Not stored in the metadata line.
    std::string version_id;
    /// The version is a delete marker: no bytes, no ETag.
    bool delete_marker = false;

    /// Where the version stands among its key's versions: a client write's
    /// generation (minted under the key's commit lock, so in commit order),
    /// a replica's source generation (so a destination orders its replicas
    /// as the source committed them, whatever order they arrived in).
    std::uint64_t order() const { return generation != 0 ? generation : s3repl::replica_generation_of(headers); }
};

/// A bucket's versioning state, as GetBucketVersioning reports it: a bucket
/// never configured has none (Unversioned, no Status element).
enum class Versioning { Unversioned, Enabled, Suspended };

/// What ObjectStore::commit checks a write's condition against.
enum class ConditionOn {
    Version, ///< the very version written (a replica of one source version)
    Latest,  ///< the key's current object, as a client's conditional PUT means it
};

/// How a replication ended, kept beside the source object so the status
/// outlives the manager's entry (which the sweeper removes after its TTL).
struct TerminalStatus {
    std::uint64_t generation = 0;
    s3repl::ReplicationStatus status = s3repl::ReplicationStatus::Completed;
};

/// What ObjectStore::commit did: a conditional write is decided under the
/// object's lock, so the condition and the write are one atomic step.
enum class CommitResult {
    Committed,          ///< the object now holds the staged bytes
    PreconditionFailed, ///< If-None-Match: * and the object exists, or If-Match and its ETag differs
    NoSuchKey,          ///< If-Match and there is no object (S3 answers 404 NoSuchKey)
};

/// An upload written to DIR/tmp/ and fsynced, not yet visible: the slow part
/// of a PUT, done outside every lock. ObjectStore::commit renames it into
/// place; destroying it uncommitted removes the file. Move-only.
class StagedObject {
  public:
    StagedObject(StagedObject&& other) noexcept
        : bucket_(std::move(other.bucket_)), key_(std::move(other.key_)), target_(std::move(other.target_)),
          temp_(std::exchange(other.temp_, {})), fd_(std::exchange(other.fd_, -1)), meta_(std::move(other.meta_)) {}
    StagedObject(const StagedObject&) = delete;
    StagedObject& operator=(const StagedObject&) = delete;
    StagedObject& operator=(StagedObject&&) = delete;
    ~StagedObject() {
        if (fd_ >= 0) ::close(fd_);
        if (!temp_.empty()) ::unlink(temp_.c_str());
    }

    /// The metadata as it will be stored (etag, size and last_modified
    /// filled in; generation and replicated once committed).
    const ObjectMeta& meta() const noexcept { return meta_; }

    /// Whether commit renamed it into place: the object holds these bytes.
    bool committed() const noexcept { return temp_.empty(); }

  private:
    friend class ObjectStore;
    StagedObject(std::string bucket, std::string key, std::filesystem::path target, std::filesystem::path temp, int fd,
                 ObjectMeta meta)
        : bucket_(std::move(bucket)), key_(std::move(key)), target_(std::move(target)), temp_(std::move(temp)), fd_(fd),
          meta_(std::move(meta)) {}

    std::string bucket_;
    std::string key_;
    std::filesystem::path target_;
    std::filesystem::path temp_; ///< empty once committed
    int fd_ = -1;
    ObjectMeta meta_;
};

/// Buckets and objects in a directory:
///
///     DIR/snapshot.json                      the manager's snapshot (in-memory manager)
///     DIR/locks                              the per-key locks (KeyLocks), no data
///     DIR/tmp/<pid>-<random>/                files a process is writing (TempArea)
///     DIR/buckets/<bucket>/objects/k<key>    one line of JSON (ObjectMeta), then the bytes
///     DIR/buckets/<bucket>/status/k<key>     TerminalStatus of the last replication
///     DIR/buckets/<bucket>/versioning        "Enabled" or "Suspended"; absent: never configured
///     DIR/buckets/<bucket>/versions/k<key>/<version ID>   a version, as an object file
///     DIR/buckets/<bucket>/status/v<key>/<version ID>     its TerminalStatus
///
/// objects/k<key> is the unversioned object, which is S3's "null" version
/// once the bucket has versioning; a delete marker is a version file whose
/// metadata says so and which holds no bytes. The current object of a key
/// is the version of the highest ObjectMeta::order().
/// `<key>` is the key percent-encoded, so every file name is safe; a key whose
/// name would not fit a file name is refused with KeyTooLongError. Every
/// write goes to tmp/, is fsynced, renamed over its target and the directory
/// fsynced: a crash leaves the old object or the new one, never a torn one,
/// and concurrent PUTs of one key end with one whole winner. An object's
/// commit, removal and outcome update happen under that object's lock
/// (KeyLocks: striped, and held across processes), so a condition checked
/// there still holds when the rename lands, whichever server process
/// renames; reads take no lock (a file is never changed once renamed into
/// place). Several processes may share one directory (the two-node setup:
/// it stands for shared object storage). Thread-safe.
class ObjectStore {
  public:
    explicit ObjectStore(std::filesystem::path root)
        : root_(created(std::move(root))), locks_(root_ / "locks"), temp_(root_ / "tmp") {
        std::filesystem::create_directories(root_ / "buckets");
    }

    std::filesystem::path snapshot_path() const { return root_ / "snapshot.json"; }

    /// False when the bucket exists already. `bucket` is a valid name
    /// (is_valid_bucket_name); std::invalid_argument if not.
    bool create_bucket(const std::string& bucket) {
        if (!is_valid_bucket_name(bucket)) throw std::invalid_argument("invalid bucket name " + bucket);
        std::error_code ec;
        if (!std::filesystem::create_directory(bucket_dir(bucket), ec)) {
            if (ec) throw std::system_error(ec, "create bucket " + bucket);
            return false;
        }
        std::filesystem::create_directories(bucket_dir(bucket) / "objects");
        std::filesystem::create_directories(bucket_dir(bucket) / "status");
        std::filesystem::create_directories(bucket_dir(bucket) / "versions");
        sync_directory(root_ / "buckets");
        return true;
    }

    /// False for a name S3 would not give a bucket, which names no directory.
    bool bucket_exists(const std::string& bucket) const {
        return is_valid_bucket_name(bucket) && std::filesystem::is_directory(bucket_dir(bucket) / "objects");
    }

    /// Durable before it returns (written as an object file is): an
    /// acknowledged PutBucketVersioning survives a crash.
    void set_versioning(const std::string& bucket, Versioning state) {
        write_atomically(bucket_dir(bucket) / "versioning", state == Versioning::Enabled ? "Enabled" : "Suspended", {});
    }

    Versioning versioning(const std::string& bucket) const {
        std::ifstream in(bucket_dir(bucket) / "versioning", std::ios::binary);
        std::string text;
        if (!in || !std::getline(in, text)) return Versioning::Unversioned;
        return text == "Enabled" ? Versioning::Enabled : Versioning::Suspended;
    }

    /// A new version ID: 16 hex digits of the microseconds since the epoch,
    /// strictly increasing within the process, then 8 of a random tag of the
    /// process, so two processes sharing the directory never mint the same
    /// one in the same microsecond (URL- and file-name-safe).
    std::string new_version_id() {
        const auto now = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        std::uint64_t last = last_version_stamp_.load();
        std::uint64_t next = 0;
        do {
            next = std::max(now, last + 1);
        } while (!last_version_stamp_.compare_exchange_weak(last, next));
        char text[25];
        std::snprintf(text, sizeof text, "%016llx%08x", static_cast<unsigned long long>(next), version_tag_);
        return text;
    }

    /// Names and creation times, sorted by name.
    std::vector<std::pair<std::string, SystemTime>> list_buckets() const {
        std::vector<std::pair<std::string, SystemTime>> buckets;
        for (const auto& entry : std::filesystem::directory_iterator(root_ / "buckets"))
            buckets.emplace_back(entry.path().filename().string(), file_time(entry.path()));
        std::sort(buckets.begin(), buckets.end());
        return buckets;
    }

    /// Writes the bytes and metadata (etag, size and last_modified filled in)
    /// to a temporary file and fsyncs it; nothing is visible until commit.
    /// Throws KeyTooLongError before writing anything. `version_id` empty:
    /// the unversioned (null) object; a delete marker (meta.delete_marker)
    /// holds no bytes and gets no ETag.
    StagedObject stage(const std::string& bucket, const std::string& key, ObjectMeta meta, std::string_view body,
                       const std::string& version_id = {}) {
        const std::filesystem::path target = object_path(bucket, key, version_id);
        meta.version_id = version_id;
        meta.etag = meta.delete_marker ? std::string() : etag_of(body);
        meta.size = body.size();
        meta.last_modified = std::chrono::system_clock::now();
        meta.generation = 0;
        meta.replicated = false;
        const auto [temp, fd] = write_temp(first_line(meta), body, target);
        return StagedObject(bucket, key, target, temp, fd, std::move(meta));
    }

    /// Makes the staged upload the object, if `condition` holds against the
    /// object stored now (`on`: that version, or the key's current object; a
    /// delete marker there is no object), `If-Match` comparing ETags with or
    /// without their quotes, recording `generation` and `replicated` with it. Under the
    /// object's lock: the check, the two fields patched in place (fixed
    /// width, so no bytes are rewritten), fdatasync and the rename; the
    /// directory's fsync follows outside it. Returns what happened; on
    /// anything but Committed the staged file is left for its destructor.
    CommitResult commit(StagedObject& staged, const s3repl::WriteCondition& condition, std::uint64_t generation,
                        bool replicated, ConditionOn on = ConditionOn::Version) {
        const std::filesystem::path& target = staged.target_;
        // A key's first version makes its directory; made durable before a version lands in it.
        if (!staged.meta_.version_id.empty() && std::filesystem::create_directories(target.parent_path()))
            sync_directory(target.parent_path().parent_path());
        {
            const KeyLocks::Guard lock = locks_.lock(staged.bucket_, staged.key_);
            std::optional<ObjectMeta> current = on == ConditionOn::Latest
                                                    ? latest(staged.bucket_, staged.key_)
                                                    : head(staged.bucket_, staged.key_, staged.meta_.version_id);
            if (current && current->delete_marker) current.reset();
            const CommitResult allowed = check(condition, current);
            if (allowed != CommitResult::Committed) return allowed;
            const std::string fields = commit_fields(generation, replicated);
            if (::pwrite(staged.fd_, fields.data(), fields.size(), 0) != static_cast<ssize_t>(fields.size()) ||
                ::fdatasync(staged.fd_) != 0 || ::rename(staged.temp_.c_str(), target.c_str()) != 0)
                throw_errno("commit " + target.string());
            staged.temp_.clear();
        }
        staged.meta_.generation = generation;
        staged.meta_.replicated = replicated;
        sync_directory(target.parent_path());
        return CommitResult::Committed;
    }

    /// One version (empty `version_id`: the unversioned object), a delete
    /// marker included.
    std::optional<ObjectMeta> head(const std::string& bucket, const std::string& key,
                                   const std::string& version_id = {}) const {
        return read_meta_file(object_path(bucket, key, version_id), version_id);
    }

    /// When the version's file was committed: its modification time, which
    /// the commit's patch of the first line sets just before the rename (a
    /// file is never written once in place). nullopt when there is none.
    std::optional<SystemTime> committed_at(const std::string& bucket, const std::string& key,
                                           const std::string& version_id = {}) const {
        struct stat info {};
        if (::stat(object_path(bucket, key, version_id).c_str(), &info) != 0) return std::nullopt;
        return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
            std::chrono::seconds(info.st_mtim.tv_sec) + std::chrono::nanoseconds(info.st_mtim.tv_nsec)));
    }

    std::optional<std::pair<ObjectMeta, std::string>> get(const std::string& bucket, const std::string& key,
                                                          const std::string& version_id = {}) const {
        const std::filesystem::path path = object_path(bucket, key, version_id);
        std::ifstream in(path, std::ios::binary);
        if (!in) return std::nullopt;
        ObjectMeta meta = read_meta(in, path, version_id);
        std::string body(meta.size, '\0');
        if (!in.read(body.data(), static_cast<std::streamsize>(body.size())))
            throw std::runtime_error("truncated object file " + path.string());
        return std::make_pair(std::move(meta), std::move(body));
    }

    /// The key's current version (the highest order(), a delete marker
    /// included), or nullopt when it has none. Takes no lock: a version
    /// removed meanwhile is skipped.
    std::optional<ObjectMeta> latest(const std::string& bucket, const std::string& key) const {
        std::optional<ObjectMeta> best = head(bucket, key);
        for (ObjectMeta& version : versions_of(bucket, key))
            if (!best || newer(version, *best)) best = std::move(version);
        return best;
    }

    /// Every version of the key, the unversioned one included, newest first.
    std::vector<ObjectMeta> all_versions(const std::string& bucket, const std::string& key) const {
        std::vector<ObjectMeta> versions = versions_of(bucket, key);
        if (auto null_version = head(bucket, key)) versions.push_back(std::move(*null_version));
        std::sort(versions.begin(), versions.end(),
                  [](const ObjectMeta& a, const ObjectMeta& b) { return newer(a, b); });
        return versions;
    }

    /// False when there was no such version. Under the object's lock, so a
    /// commit lands wholly before or after it.
    bool remove(const std::string& bucket, const std::string& key, const std::string& version_id = {}) {
        bool removed = false;
        const std::filesystem::path path = object_path(bucket, key, version_id);
        {
            const KeyLocks::Guard lock = locks_.lock(bucket, key);
            std::filesystem::remove(status_path(bucket, key, version_id));
            removed = std::filesystem::remove(path);
        }
        if (removed) sync_directory(path.parent_path());
        return removed;
    }

    /// Every key of the bucket whose current version is not a delete
    /// marker, with that version's metadata, sorted by key (S3's byte
    /// order). Objects removed while listing are skipped.
    std::vector<std::pair<std::string, ObjectMeta>> list(const std::string& bucket) const {
        std::vector<std::pair<std::string, ObjectMeta>> objects;
        for (const std::string& key : keys(bucket)) {
            std::optional<ObjectMeta> current = latest(bucket, key);
            if (current && !current->delete_marker) objects.emplace_back(key, std::move(*current));
        }
        return objects;
    }

    /// Every key of the bucket that has a version (sorted), each with its
    /// versions newest first: ListObjectVersions.
    std::vector<std::pair<std::string, std::vector<ObjectMeta>>> list_versions(const std::string& bucket) const {
        std::vector<std::pair<std::string, std::vector<ObjectMeta>>> listed;
        for (const std::string& key : keys(bucket)) {
            std::vector<ObjectMeta> versions = all_versions(bucket, key);
            if (!versions.empty()) listed.emplace_back(key, std::move(versions));
        }
        return listed;
    }

    /// Calls visit(bucket, key, const ObjectMeta&) for every version of every
    /// object (meta.version_id says which; delete markers included).
    template <class Visitor>
    void for_each_object(Visitor&& visit) const {
        for (const auto& bucket : list_buckets())
            for (const std::string& key : keys(bucket.first))
                for (const ObjectMeta& version : all_versions(bucket.first, key)) visit(bucket.first, key, version);
    }

    /// Keeps `status` beside the object if the object still holds the bytes
    /// of `status.generation` (checked under the object's lock, so an older
    /// job's outcome never lands over a newer one's). Returns whether it did.
    bool set_terminal_status_if_current(const std::string& bucket, const std::string& key,
                                        const std::string& version_id, TerminalStatus status) {
        const nlohmann::json json = {{"generation", status.generation},
                                     {"status", std::string(s3repl::to_aws_string(status.status))}};
        const std::filesystem::path path = status_path(bucket, key, version_id);
        if (!version_id.empty() && std::filesystem::create_directories(path.parent_path()))
            sync_directory(path.parent_path().parent_path());
        const KeyLocks::Guard lock = locks_.lock(bucket, key);
        const auto current = head(bucket, key, version_id);
        if (!current || current->generation != status.generation) return false;
        write_atomically(path, json.dump(), {});
        return true;
    }

    std::optional<TerminalStatus> terminal_status(const std::string& bucket, const std::string& key,
                                                  const std::string& version_id = {}) const {
        std::ifstream in(status_path(bucket, key, version_id), std::ios::binary);
        if (!in) return std::nullopt;
        const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
        if (json.is_discarded()) return std::nullopt; // a status is a cache of the manager's; losing it is safe
        const auto status = s3repl::parse_aws_status(json.value("status", ""));
        if (!status) return std::nullopt;
        return TerminalStatus{json.value("generation", std::uint64_t{0}), *status};
    }

  private:
    std::filesystem::path bucket_dir(const std::string& bucket) const { return root_ / "buckets" / bucket; }

    static CommitResult check(const s3repl::WriteCondition& condition, const std::optional<ObjectMeta>& current) {
        if (condition.if_none_match && current) return CommitResult::PreconditionFailed;
        if (!condition.if_match) return CommitResult::Committed;
        if (!current) return CommitResult::NoSuchKey;
        return unquoted(*condition.if_match) == unquoted(current->etag) ? CommitResult::Committed
                                                                        : CommitResult::PreconditionFailed;
    }

    static std::string_view unquoted(std::string_view etag) {
        if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') return etag.substr(1, etag.size() - 2);
        return etag;
    }

    // Version IDs come from new_version_id() or, on a destination, from
    // the source's; S3Api refuses any other before it names a file.
    std::filesystem::path object_path(const std::string& bucket, const std::string& key,
                                      const std::string& version_id) const {
        if (version_id.empty()) return bucket_dir(bucket) / "objects" / file_name_of(key);
        return bucket_dir(bucket) / "versions" / file_name_of(key) / version_id;
    }
    std::filesystem::path status_path(const std::string& bucket, const std::string& key,
                                      const std::string& version_id) const {
        if (version_id.empty()) return bucket_dir(bucket) / "status" / file_name_of(key);
        return bucket_dir(bucket) / "status" / ('v' + file_name_of(key).substr(1)) / version_id;
    }

    // The key's versions other than the unversioned one, in no order.
    std::vector<ObjectMeta> versions_of(const std::string& bucket, const std::string& key) const {
        std::vector<ObjectMeta> versions;
        std::error_code ec;
        for (const auto& entry :
             std::filesystem::directory_iterator(bucket_dir(bucket) / "versions" / file_name_of(key), ec))
            if (auto meta = read_meta_file(entry.path(), entry.path().filename().string()))
                versions.push_back(std::move(*meta));
        return versions;
    }

    // Every key with an unversioned object or a versions directory, sorted.
    std::vector<std::string> keys(const std::string& bucket) const {
        std::vector<std::string> found;
        for (const char* dir : {"objects", "versions"}) {
            std::error_code ec;
            for (const auto& entry : std::filesystem::directory_iterator(bucket_dir(bucket) / dir, ec))
                found.push_back(key_of(entry.path().filename().string()));
        }
        std::sort(found.begin(), found.end());
        found.erase(std::unique(found.begin(), found.end()), found.end());
        return found;
    }

    // Later in the key's history; the last modification breaks a tie (files
    // written before generations, which all order 0).
    static bool newer(const ObjectMeta& a, const ObjectMeta& b) {
        if (a.order() != b.order()) return a.order() > b.order();
        return a.last_modified > b.last_modified;
    }

    std::optional<ObjectMeta> read_meta_file(const std::filesystem::path& path, const std::string& version_id) const {
        std::ifstream in(path, std::ios::binary);
        if (!in) return std::nullopt;
        return read_meta(in, path, version_id);
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

    // The fields a commit fills in open the file's first line at a fixed
    // width (JSON allows the padding), so commit patches them in place.
    static std::string commit_fields(std::uint64_t generation, bool replicated) {
        char text[64];
        const int length = std::snprintf(text, sizeof text, "{\"generation\":%20llu,\"replicated\":%-5s,",
                                         static_cast<unsigned long long>(generation), replicated ? "true" : "false");
        return std::string(text, static_cast<std::size_t>(length));
    }

    // The commit fields, then the rest of the metadata as JSON, then '\n'.
    static std::string first_line(const ObjectMeta& meta) {
        const std::string rest = to_json(meta).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return commit_fields(meta.generation, meta.replicated) + rest.substr(1) + '\n';
    }

    static nlohmann::json to_json(const ObjectMeta& meta) {
        return {{"headers", meta.headers},
                {"tags", meta.tags},
                {"etag", meta.etag},
                {"size", meta.size},
                {"delete_marker", meta.delete_marker},
                {"last_modified_ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(meta.last_modified.time_since_epoch()).count()}};
    }

    static ObjectMeta read_meta(std::istream& in, const std::filesystem::path& path, const std::string& version_id) {
        std::string line;
        std::getline(in, line);
        const nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded() || !json.is_object()) throw std::runtime_error("corrupt object file " + path.string());
        ObjectMeta meta;
        meta.headers = json.value("headers", HeaderMap{});
        meta.tags = json.value("tags", s3repl::TagSet{});
        meta.generation = json.value("generation", std::uint64_t{0});
        // Files from before the flag: only replicated PUTs had a generation then.
        meta.replicated = json.value("replicated", meta.generation != 0);
        meta.etag = json.value("etag", "");
        meta.size = json.value("size", std::uint64_t{0});
        meta.delete_marker = json.value("delete_marker", false);
        meta.version_id = version_id;
        meta.last_modified = SystemTime(std::chrono::milliseconds(json.value("last_modified_ms", std::int64_t{0})));
        return meta;
    }

    // A new file in tmp/ holding head and body, fsynced; returns it and its
    // open descriptor. `target` only names the write in errors.
    std::pair<std::filesystem::path, int> write_temp(std::string_view head, std::string_view body,
                                                     const std::filesystem::path& target) {
        const std::filesystem::path temp = temp_.next_path();
        const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) throw_errno("open " + temp.string());
        if (!write_all(fd, head) || !write_all(fd, body) || ::fsync(fd) != 0) {
            const int error = errno;
            ::close(fd);
            ::unlink(temp.c_str());
            errno = error;
            throw_errno("write " + target.string());
        }
        return {temp, fd};
    }

    void write_atomically(const std::filesystem::path& target, std::string_view head, std::string_view body) {
        const auto [temp, fd] = write_temp(head, body, target);
        ::close(fd);
        if (::rename(temp.c_str(), target.c_str()) != 0) {
            const int error = errno;
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

    static std::filesystem::path created(std::filesystem::path dir) {
        std::filesystem::create_directories(dir);
        return dir;
    }

    std::filesystem::path root_;
    KeyLocks locks_;
    TempArea temp_;
    std::atomic<std::uint64_t> last_version_stamp_{0};
    const unsigned version_tag_ = std::random_device{}();
};

} // namespace s3server
