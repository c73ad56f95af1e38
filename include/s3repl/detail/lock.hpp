#pragma once

#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <utility>

namespace s3repl {
inline namespace v0 {
namespace detail {

template <class Mutex, class = void>
struct is_lockable : std::false_type {};
template <class Mutex>
struct is_lockable<Mutex,
                   std::void_t<decltype(std::declval<Mutex&>().lock()), decltype(std::declval<Mutex&>().unlock())>>
    : std::true_type {};

template <class Mutex, class = void>
struct is_shared_lockable : std::false_type {};
template <class Mutex>
struct is_shared_lockable<Mutex, std::void_t<decltype(std::declval<Mutex&>().lock_shared()),
                                             decltype(std::declval<Mutex&>().unlock_shared())>> : std::true_type {};

// Readers share the lock when the Mutex allows it (std::shared_mutex) and
// take it exclusively otherwise (std::mutex, a spinlock).
template <class Mutex>
using ReadLock = std::conditional_t<is_shared_lockable<Mutex>::value, std::shared_lock<Mutex>, std::unique_lock<Mutex>>;
template <class Mutex>
using WriteLock = std::unique_lock<Mutex>;

} // namespace detail
} // namespace v0
} // namespace s3repl
