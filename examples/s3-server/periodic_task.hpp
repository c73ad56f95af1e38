#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace s3server {

/// Runs `task` every `interval` on its own thread until stopped; stop()
/// returns within one task run, never waiting out the interval.
class PeriodicTask {
  public:
    template <class Rep, class Period>
    PeriodicTask(std::chrono::duration<Rep, Period> interval, std::function<void()> task)
        : thread_([this, interval, task = std::move(task)] {
              std::unique_lock<std::mutex> lock(mutex_);
              while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
                  lock.unlock();
                  task();
                  lock.lock();
              }
          }) {}
    PeriodicTask(const PeriodicTask&) = delete;
    PeriodicTask& operator=(const PeriodicTask&) = delete;
    ~PeriodicTask() { stop(); }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false; // guarded by mutex_
    std::thread thread_;    // last: starts after the members it uses
};

} // namespace s3server
