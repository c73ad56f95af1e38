#pragma once

#include "s3repl/detail/snapshot_reader.hpp"
#include "s3repl/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
    if (::rename(temp.c_str(), target.c_str()) != 0) throw_file_error(target, "cannot rename " + temp + " over it", errno);
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

// ---- reading: stream the file through the SAX reader in 1 MiB chunks ------

// The bytes of an open file, a chunk at a time: nlohmann's FILE* adapter
// reads with fgetc (a locked call per byte), and reading the whole file
// first would double the memory a large restore needs.
class FileChunks {
  public:
    FileChunks(std::FILE* file) : file_(file), buffer_(std::size_t{1} << 20) { refill(); }
    bool at_end() const noexcept { return size_ == 0; }
    const char& current() const noexcept { return buffer_[position_]; }
    // Moves to the next byte; false at the end of the file (or on error).
    bool advance() {
        if (++position_ < size_) return true;
        refill();
        return size_ != 0;
    }
    std::string_view peek() const noexcept { return {buffer_.data() + position_, size_ - position_}; }
    int error() const noexcept { return error_; }

  private:
    void refill() {
        position_ = 0;
        size_ = std::fread(buffer_.data(), 1, buffer_.size(), file_);
        if (size_ == 0 && std::ferror(file_)) error_ = errno != 0 ? errno : EIO;
    }
    std::FILE* file_;
    std::vector<char> buffer_;
    std::size_t position_ = 0, size_ = 0;
    int error_ = 0;
};

// An input iterator over FileChunks, in the shape nlohmann's iterator
// adapter reads (dereference, advance, compare with the end).
class FileChunkIterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    FileChunkIterator() noexcept = default; // the end
    explicit FileChunkIterator(FileChunks& chunks) noexcept : chunks_(chunks.at_end() ? nullptr : &chunks) {}
    reference operator*() const noexcept { return chunks_->current(); }
    FileChunkIterator& operator++() {
        if (!chunks_->advance()) chunks_ = nullptr;
        return *this;
    }
    FileChunkIterator operator++(int) {
        FileChunkIterator before = *this;
        ++*this;
        return before;
    }
    friend bool operator==(const FileChunkIterator& a, const FileChunkIterator& b) noexcept {
        return a.chunks_ == b.chunks_;
    }
    friend bool operator!=(const FileChunkIterator& a, const FileChunkIterator& b) noexcept { return !(a == b); }

  private:
    FileChunks* chunks_ = nullptr;
};

inline void read_snapshot_file(const std::filesystem::path& path, RestoredState& out, std::uint64_t seed,
                               Timestamp now) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw_file_error(path, "cannot open", errno);
    FileChunks chunks(file.get());
    try {
        reject_byte_order_mark(chunks.peek());
        read_snapshot(FileChunkIterator(chunks), FileChunkIterator(), out, seed, now);
    } catch (const SnapshotError& error) {
        if (chunks.error() != 0) throw_file_error(path, "cannot read", chunks.error());
        throw SnapshotError(path.string() + ": " + (error.what() + std::strlen("[s3repl.snapshot] ")));
    }
    if (chunks.error() != 0) throw_file_error(path, "cannot read", chunks.error());
}

} // namespace detail
} // namespace v0
} // namespace s3repl
