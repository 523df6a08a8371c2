#include "system/sendfile_reactor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lanboot::system {

static_assert(sizeof(off_t) == 8, "sendfile offsets past 4 GiB need a 64-bit off_t");

namespace {

// One sendfile(2) call moves at most this much; a transfer gets a few calls per turn so that
// one fast reader cannot starve the others of its loop.
constexpr size_t kChunkBytes = 1 << 20;
constexpr int kCallsPerTurn = 4;
// Stall timeouts and cancel flags are checked at this interval.
constexpr int kTickMs = 100;

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

struct SendfileReactor::Loop {
  int epollFd = -1;
  int wakeFd = -1;
  std::mutex mutex;
  std::vector<std::unique_ptr<SendfileJob>> incoming;  // guarded by mutex
  bool stop = false;                                   // guarded by mutex
  // Owned by the loop's thread only.
  std::unordered_map<SendfileJob*, std::unique_ptr<SendfileJob>> jobs;
  std::atomic<size_t> load{0};
};

SendfileReactor::SendfileReactor(unsigned threads, size_t maxJobs) : maxJobs_(maxJobs) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->epollFd = ::epoll_create1(EPOLL_CLOEXEC);
    loop->wakeFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epollFd < 0 || loop->wakeFd < 0) {
      closeFd(loop->epollFd);
      closeFd(loop->wakeFd);
      continue;  // fewer loops; submit() fails with ESHUTDOWN if none could be made
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;  // nullptr = the wake eventfd
    ::epoll_ctl(loop->epollFd, EPOLL_CTL_ADD, loop->wakeFd, &event);
    loops_.push_back(std::move(loop));
  }
  for (auto& loop : loops_) threads_.emplace_back([this, raw = loop.get()] { run(raw); });
}

SendfileReactor::~SendfileReactor() {
  stop();
  for (auto& loop : loops_) {
    closeFd(loop->epollFd);
    closeFd(loop->wakeFd);
  }
}

int SendfileReactor::submit(std::unique_ptr<SendfileJob> job) {
  auto reject = [&job](int error) {
    closeFd(job->socketFd);
    closeFd(job->fileFd);
    return -error;
  };
  if (stopping_.load() || loops_.empty()) return reject(ESHUTDOWN);
  if (inFlight_.fetch_add(1) >= maxJobs_) {
    inFlight_.fetch_sub(1);
    return reject(EAGAIN);
  }
  // The least loaded loop (ties: round robin).
  unsigned start = next_.fetch_add(1);
  Loop* chosen = nullptr;
  for (size_t i = 0; i < loops_.size(); ++i) {
    Loop* candidate = loops_[(start + i) % loops_.size()].get();
    if (chosen == nullptr || candidate->load.load() < chosen->load.load()) chosen = candidate;
  }
  job->lastProgress = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(chosen->mutex);
    if (chosen->stop) {
      inFlight_.fetch_sub(1);
      return reject(ESHUTDOWN);
    }
    chosen->load.fetch_add(1);
    chosen->incoming.push_back(std::move(job));
  }
  uint64_t one = 1;
  ssize_t ignored = ::write(chosen->wakeFd, &one, sizeof one);
  (void)ignored;
  return 0;
}

void SendfileReactor::stop() {
  std::lock_guard<std::mutex> guard(stopMutex_);
  stopping_.store(true);
  for (auto& loop : loops_) {
    {
      std::lock_guard<std::mutex> lock(loop->mutex);
      loop->stop = true;
    }
    uint64_t one = 1;
    ssize_t ignored = ::write(loop->wakeFd, &one, sizeof one);
    (void)ignored;
  }
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void SendfileReactor::finish(Loop* loop, SendfileJob* job, int error) {
  ::epoll_ctl(loop->epollFd, EPOLL_CTL_DEL, job->socketFd, nullptr);
  closeFd(job->socketFd);
  closeFd(job->fileFd);
  auto owned = std::move(loop->jobs[job]);
  loop->jobs.erase(job);
  loop->load.fetch_sub(1);
  inFlight_.fetch_sub(1);
  if (owned->done) owned->done(error, owned->sent);
}

void SendfileReactor::pump(Loop* loop, SendfileJob* job) {
  for (int call = 0; call < kCallsPerTurn && job->remaining > 0; ++call) {
    off_t offset = off_t(job->offset);
    size_t want = job->remaining < kChunkBytes ? size_t(job->remaining) : kChunkBytes;
    ssize_t n = ::sendfile(job->socketFd, job->fileFd, &offset, want);
    if (n > 0) {
      job->offset += uint64_t(n);
      job->remaining -= uint64_t(n);
      job->sent += uint64_t(n);
      job->lastProgress = std::chrono::steady_clock::now();
      // Less than asked: the socket buffer is full. Wait for EPOLLOUT rather than spend a
      // call on the EAGAIN that would follow.
      if (size_t(n) < want && job->remaining > 0) return;
      continue;
    }
    if (n == 0) return finish(loop, job, EIO);  // the file is shorter than the range
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return;  // socket buffer full: EPOLLOUT says when to go on
    return finish(loop, job, errno);
  }
  if (job->remaining == 0) finish(loop, job, 0);
}

void SendfileReactor::run(Loop* loop) {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  auto lastTick = std::chrono::steady_clock::now();
  for (;;) {
    int n = ::epoll_wait(loop->epollFd, events, kMaxEvents, loop->jobs.empty() ? -1 : kTickMs);
    if (n < 0 && errno != EINTR) n = 0;
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      auto* job = static_cast<SendfileJob*>(events[i].data.ptr);
      if (job == nullptr) {
        woken = true;
        continue;
      }
      // A job finished earlier in this batch is no longer in the table.
      if (loop->jobs.count(job) != 0) pump(loop, job);
    }
    if (woken) {
      uint64_t count;
      ssize_t ignored = ::read(loop->wakeFd, &count, sizeof count);
      (void)ignored;
      std::vector<std::unique_ptr<SendfileJob>> taken;
      bool stop;
      {
        std::lock_guard<std::mutex> lock(loop->mutex);
        taken.swap(loop->incoming);
        stop = loop->stop;
      }
      for (auto& owned : taken) {
        SendfileJob* job = owned.get();
        loop->jobs.emplace(job, std::move(owned));
        epoll_event event{};
        event.events = EPOLLOUT;  // level-triggered: a writable socket is pumped every turn
        event.data.ptr = job;
        if (::epoll_ctl(loop->epollFd, EPOLL_CTL_ADD, job->socketFd, &event) != 0) {
          finish(loop, job, errno);
          continue;
        }
        pump(loop, job);
      }
      if (stop) {
        std::vector<SendfileJob*> all;
        for (auto& entry : loop->jobs) all.push_back(entry.first);
        for (SendfileJob* job : all) finish(loop, job, ECANCELED);
        return;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now - lastTick >= std::chrono::milliseconds(kTickMs)) {
      lastTick = now;
      std::vector<std::pair<SendfileJob*, int>> ended;
      for (auto& entry : loop->jobs) {
        SendfileJob* job = entry.first;
        if (job->cancel != nullptr && __atomic_load_n(job->cancel, __ATOMIC_RELAXED) != 0) {
          ended.emplace_back(job, ECANCELED);
        } else if (now - job->lastProgress > std::chrono::milliseconds(job->stallMs)) {
          ended.emplace_back(job, ETIMEDOUT);
        }
      }
      for (auto& [job, error] : ended) finish(loop, job, error);
    }
  }
}

}  // namespace lanboot::system
