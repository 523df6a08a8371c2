// Sends byte ranges of files to TCP sockets with sendfile(2): the bytes go from the page
// cache to the socket, never through a user-space buffer. A few reactor threads each run an
// epoll loop over their transfers (non-blocking sockets, level-triggered EPOLLOUT), so a slow
// reader costs an fd and a table entry, not a thread, and the libuv threadpool is never held.
// A transfer that makes no progress for its stall timeout is dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace lanboot::system {

struct SendfileJob {
  // Both owned by the job: closed by the reactor when the job ends, on every path.
  int socketFd = -1;
  int fileFd = -1;
  uint64_t offset = 0;
  uint64_t remaining = 0;
  // Milliseconds without one byte accepted by the socket before the job fails (ETIMEDOUT).
  uint32_t stallMs = 30000;
  // Optional: the job ends with ECANCELED once *cancel != 0 (checked every poll interval).
  const int32_t* cancel = nullptr;
  // Called once, on the reactor thread: error 0 and the bytes sent, or a positive errno
  // (EIO: the file ended before the range did).
  std::function<void(int error, uint64_t sent)> done;

  // Reactor bookkeeping.
  uint64_t sent = 0;
  std::chrono::steady_clock::time_point lastProgress;
};

class SendfileReactor {
 public:
  // threads: epoll loops (at least 1); maxJobs: transfers in flight over all of them.
  SendfileReactor(unsigned threads, size_t maxJobs);
  ~SendfileReactor();
  SendfileReactor(const SendfileReactor&) = delete;
  SendfileReactor& operator=(const SendfileReactor&) = delete;

  // Takes the job. Returns 0, or -EAGAIN when maxJobs transfers are in flight, -ESHUTDOWN
  // after stop(); on failure the job's fds are closed and `done` is not called.
  int submit(std::unique_ptr<SendfileJob> job);
  // Ends every transfer (done(ECANCELED)) and joins the threads. Idempotent.
  void stop();
  size_t inFlight() const { return inFlight_.load(); }

 private:
  struct Loop;
  void run(Loop* loop);
  void pump(Loop* loop, SendfileJob* job);
  void finish(Loop* loop, SendfileJob* job, int error);

  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> inFlight_{0};
  std::atomic<unsigned> next_{0};
  std::atomic<bool> stopping_{false};
  std::mutex stopMutex_;
  const size_t maxJobs_;
};

}  // namespace lanboot::system
