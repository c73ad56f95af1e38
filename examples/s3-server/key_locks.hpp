#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace s3server {

/// Striped per-key locks that hold across processes: two servers over one
/// data directory (shared object storage) exclude each other as threads of
/// one server do. A stripe is a mutex of this process plus an OFD lock
/// (fcntl F_OFD_SETLKW) on its byte of one lock file. OFD locks belong to an
/// open file description, so the threads of a process, which share it, do
/// not exclude each other there (the mutex does that); the kernel drops a
/// process's OFD locks when it dies, so a kill -9 leaves no key locked. Keys
/// are hashed with FNV-1a, the same in every build, so every process picks
/// the same stripe. Thread-safe.
class KeyLocks {
  public:
    /// Creates `file` if needed (it holds no data, only the locks).
    explicit KeyLocks(const std::filesystem::path& file)
        : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + file.string());
    }
    KeyLocks(const KeyLocks&) = delete;
    KeyLocks& operator=(const KeyLocks&) = delete;
    ~KeyLocks() { ::close(fd_); }

    /// The key's stripe, held until destroyed: in this process and in every other.
    class Guard {
      public:
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard() { locks_.unlock(stripe_); }

      private:
        friend class KeyLocks;
        Guard(KeyLocks& locks, std::size_t stripe) : locks_(locks), stripe_(stripe), held_(locks.mutexes_[stripe]) {
            locks_.wait_for(stripe_);
        }
        KeyLocks& locks_;
        std::size_t stripe_;
        std::lock_guard<std::mutex> held_; // taken first, released last
    };

    Guard lock(std::string_view bucket, std::string_view key) { return Guard(*this, stripe_of(bucket, key)); }

  private:
    static constexpr std::size_t stripes = 256;

    static std::size_t stripe_of(std::string_view bucket, std::string_view key) noexcept {
        std::uint64_t hash = 0xcbf29ce484222325ULL;
        const auto mix = [&hash](std::string_view text) {
            for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        };
        mix(bucket);
        mix(std::string_view("\0", 1));
        mix(key);
        return static_cast<std::size_t>(hash % stripes);
    }

    static struct flock byte_of(std::size_t stripe, short type) noexcept {
        struct flock range {};
        range.l_type = type;
        range.l_whence = SEEK_SET;
        range.l_start = static_cast<off_t>(stripe);
        range.l_len = 1;
        return range;
    }

    // Waits while another process holds the stripe's byte, then takes it.
    void wait_for(std::size_t stripe) {
        struct flock range = byte_of(stripe, F_WRLCK);
        while (::fcntl(fd_, F_OFD_SETLKW, &range) != 0)
            if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "lock a key (fcntl)");
    }

    // Cannot fail on a descriptor that holds the lock (and closing it would release it anyway).
    void unlock(std::size_t stripe) noexcept {
        struct flock range = byte_of(stripe, F_UNLCK);
        ::fcntl(fd_, F_OFD_SETLK, &range);
    }

    const int fd_;
    std::array<std::mutex, stripes> mutexes_;
};

} // namespace s3server
