#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <stdexcept>
#include <string>

namespace s3repl {
inline namespace v0 {

/// Base of every exception s3repl throws. Messages read
/// "[s3repl.<area>] <where>: <what>" so logs say which part complained.
class Error : public std::runtime_error {
  public:
    Error(const char* area, const std::string& what)
        : std::runtime_error(std::string("[s3repl.") + area + "] " + what) {}
};

/// A bucket, key or configuration that can never be stored (not UTF-8, too
/// large); nothing was changed.
class InvalidArgument : public Error {
  public:
    explicit InvalidArgument(const std::string& what) : Error("argument", what) {}
};

/// Every generation up to 2^64-1 has been handed out; minting more would wrap
/// and let a stale task win the CAS, so the manager refuses instead.
class GenerationExhausted : public Error {
  public:
    GenerationExhausted() : Error("generation", "all 2^64-1 generation tokens have been issued") {}
};

/// A snapshot that could not be read or written. The message names the JSON
/// pointer (or file path) and what was expected there.
class SnapshotError : public Error {
  public:
    explicit SnapshotError(const std::string& what) : Error("snapshot", what) {}
};

/// A state backend (Redis) that could not answer: unreachable, timed out, or
/// refusing a command. The message carries the backend's own words after
/// where it happened ("[s3repl.redis] EVALSHA stamp: ..."). The call it comes
/// from changed nothing or applied whole (each stamp is one server-side
/// script); which of the two is unknown when the connection dropped mid-call.
class BackendError : public Error {
  public:
    explicit BackendError(const std::string& what) : Error("redis", what) {}
};

} // namespace v0
} // namespace s3repl
