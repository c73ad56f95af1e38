#pragma once

#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace s3repl {
inline namespace v0 {
namespace detail {

// ---- writing: temp file, fsync, rename, fsync the directory --------------

// The steps of a durable write, in order. Tests inject a fault before each
// to prove that every interruption leaves the old file or the new one.
enum class DurableWriteStep { CreateTemporary, Write, SyncFile, Rename, SyncDirectory };
using DurableWriteHook = std::function<void(DurableWriteStep)>;

[[noreturn]] inline void throw_file_error(const std::filesystem::path& path, const std::string& doing, int error) {
    throw SnapshotError(path.string() + ": " + doing + ": " + std::strerror(error));
}

// Replaces `target` with `data` so that a crash at any instant leaves either
// the old file or the new one, never a torn or empty file. On failure the
// old file is untouched and the temporary file removed. The new file is
// readable by its owner only (mkstemp): a snapshot lists every object key.
inline void write_file_durably(const std::filesystem::path& target, std::string_view data,
                               const DurableWriteHook& before = {}) {
    auto step = [&](DurableWriteStep s) {
        if (before) before(s);
    };
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string temp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();

    step(DurableWriteStep::CreateTemporary);
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) throw_file_error(target, "cannot create a temporary file in " + dir.string(), errno);
    // Until the rename, a failure removes the temporary file and keeps the old one.
    struct Cleanup {
        int fd;
        const std::string& path;
        bool armed = true;
        ~Cleanup() {
            if (fd >= 0) ::close(fd);
            if (armed) ::unlink(path.c_str());
        }
    } cleanup{fd, temp};

    step(DurableWriteStep::Write);
    for (std::size_t written = 0; written < data.size();) {
        const ::ssize_t n = ::write(fd, data.data() + written, data.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_file_error(target, "cannot write " + temp, errno);
        written += static_cast<std::size_t>(n);
    }
    step(DurableWriteStep::SyncFile);
    if (::fsync(fd) != 0) throw_file_error(target, "cannot fsync " + temp, errno);
    cleanup.fd = -1;
    if (::close(fd) != 0) throw_file_error(target, "cannot close " + temp, errno);

    step(DurableWriteStep::Rename);
    if (::rename(temp.c_str(), target.c_str()) != 0)
        throw_file_error(target, "cannot rename " + temp + " over it", errno);
    cleanup.armed = false;

    // The rename is durable only once the directory entry is on disk.
    step(DurableWriteStep::SyncDirectory);
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) throw_file_error(target, "cannot open directory " + dir.string() + " to fsync it", errno);
    const int synced = ::fsync(dir_fd);
    const int sync_error = errno;
    ::close(dir_fd);
    if (synced != 0) throw_file_error(target, "cannot fsync directory " + dir.string(), sync_error);
}

// ---- reading ------------------------------------------------------------

// Reads the whole file, then parses it in place: the text is about as large
// as the tables it fills, and no DOM is built (1,000,000 entries, 133 MB of
// JSON, restore in well under 350 MB).
inline void read_snapshot_file(const std::filesystem::path& path, RestoredState& out, std::uint64_t seed,
                               Timestamp now) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw_file_error(path, "cannot open", errno);
    std::string text;
    std::error_code size_error; // the size is only a hint: without it the string grows as it reads
    const std::uintmax_t size = std::filesystem::file_size(path, size_error);
    if (!size_error) text.reserve(static_cast<std::size_t>(size)); // no doubling: peak = file + tables
    char chunk[1 << 16];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file.get())) != 0;) text.append(chunk, n);
    if (std::ferror(file.get())) throw_file_error(path, "cannot read", errno != 0 ? errno : EIO);
    try {
        read_snapshot(text, out, seed, now);
    } catch (const SnapshotError& error) {
        throw SnapshotError(path.string() + ": " + (error.what() + std::strlen("[s3repl.snapshot] ")));
    }
}

} // namespace detail
} // namespace v0
} // namespace s3repl
