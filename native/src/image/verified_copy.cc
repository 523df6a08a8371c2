// See verified_copy.h.
#include "image/verified_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/digest.h"

namespace lanboot::image {
namespace {

constexpr size_t kChunkBytes = 4u << 20;
// Chunks in flight between the copying and the hashing thread (24 MiB of buffers): enough
// for either to run ahead of the other over a burst of slow reads or a slow write.
constexpr size_t kSlots = 6;
// Source bytes asked for ahead of the chunk being copied (POSIX_FADV_WILLNEED).
constexpr uint64_t kPrefetchBytes = 2 * kChunkBytes;
// A hole is a whole file-system block of zeros.
constexpr size_t kHoleGrain = 4096;

std::string describe(const std::string& what, int rc) { return what + ": " + std::strerror(-rc); }

bool isZero(const uint8_t* data, size_t length) {
  // Overlapping compare: byte i equals byte i+1 all along and the first is 0 (glibc's
  // memcmp is vectorised, a plain loop is not).
  return length == 0 || (data[0] == 0 && std::memcmp(data, data + 1, length - 1) == 0);
}

int preadFull(int fd, uint8_t* buffer, size_t length, uint64_t offset, size_t* got) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  *got = done;
  return 0;
}

int pwriteFull(int fd, const uint8_t* data, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

// One chunk in flight: its bytes as read from the source.
struct Chunk {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(kChunkBytes);
  size_t length = 0;
  uint64_t offset = 0;
};

// The second stage, on its own thread: hashes each chunk as soon as it has been read, while
// the copier writes it, reads it back and goes on to the next. SHA-256 is the slowest step
// (about 1.6 GB/s with the SHA extensions, one core) and cannot be split, so everything
// else happens on the copier's side. Chunk k lives in slot k % kSlots; the copier refills a
// slot once the hash is past the chunk that was in it.
class HashingStage {
 public:
  HashingStage() : thread_([this] { run(); }) {}
  ~HashingStage() {
    stop();
    thread_.join();
  }

  // The slot for chunk `index`, once the hash is done with the chunk that was in it.
  Chunk& slotFor(uint64_t index) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return index < kSlots || hashed_ > index - kSlots; });
    return slots_[index % kSlots];
  }
  // Chunk `index` has been read into its slot.
  void publish(uint64_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    published_ = index + 1;
    changed_.notify_all();
  }
  // Waits for every published chunk; the hex digest, nullopt when libcrypto failed.
  std::optional<std::string> finish() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return hashed_ == published_; });
    const auto digest = hash_.finish();
    if (!digest) return std::nullopt;
    return common::Sha256::hex(*digest);
  }
  uint64_t bytesHashed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytesHashed_;
  }
  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || hashed_ < published_; });
      if (stopping_) return;
      Chunk& chunk = slots_[hashed_ % kSlots];
      lock.unlock();
      hash_.update(chunk.bytes.data(), chunk.length);
      lock.lock();
      ++hashed_;
      bytesHashed_ = chunk.offset + chunk.length;
      changed_.notify_all();
    }
  }

  Chunk slots_[kSlots];
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t published_ = 0;
  uint64_t hashed_ = 0;
  uint64_t bytesHashed_ = 0;
  bool stopping_ = false;
  common::Sha256 hash_;  // only this stage's thread touches it until finish()
  std::thread thread_;   // last: starts after everything above is constructed
};

// Fills `out` with source bytes [offset, offset + length): data extents are read, holes of
// a sparse source file are zero-filled without reading them (SEEK_DATA, where it works).
int readSource(int fd, bool seekable, uint8_t* out, size_t length, uint64_t offset, size_t* got) {
  size_t done = 0;
  while (seekable && done < length) {
    off_t data = ::lseek(fd, static_cast<off_t>(offset + done), SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) break;  // no SEEK_DATA here: read it all
      // A hole to the end of the file: zeros up to its size, then the source has ended.
      struct stat st;
      if (::fstat(fd, &st) != 0) return -errno;
      uint64_t end = std::min<uint64_t>(offset + length, static_cast<uint64_t>(std::max<off_t>(st.st_size, 0)));
      size_t zeros = end > offset + done ? static_cast<size_t>(end - offset - done) : 0;
      std::memset(out + done, 0, zeros);
      *got = done + zeros;
      return 0;
    }
    uint64_t dataStart = static_cast<uint64_t>(data);
    if (dataStart >= offset + length) {
      std::memset(out + done, 0, length - done);
      done = length;
      break;
    }
    std::memset(out + done, 0, static_cast<size_t>(dataStart - offset - done));
    done = static_cast<size_t>(dataStart - offset);
    off_t hole = ::lseek(fd, static_cast<off_t>(dataStart), SEEK_HOLE);
    size_t dataEnd = hole < 0 ? length : static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(hole) - offset, length));
    size_t want = dataEnd - done;
    if (want == 0) break;  // a file system that says data and hole at once: read it plainly
    size_t read = 0;
    int rc = preadFull(fd, out + done, want, offset + done, &read);
    if (rc != 0) return rc;
    done += read;
    if (read < want) {  // the file shrank under us: it has ended
      *got = done;
      return 0;
    }
  }
  if (done < length) {
    size_t read = 0;
    int rc = preadFull(fd, out + done, length - done, offset + done, &read);
    if (rc != 0) return rc;
    done += read;
  }
  *got = done;
  return 0;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

int verifiedSparseCopy(const std::string& srcPath, const std::string& dstPath, uint64_t length,
                       const VerifiedCopyHooks& hooks, VerifiedCopyResult* result, std::string* error) {
  std::string scratch;
  std::string& why = error ? *error : scratch;
  FileDescriptor src(::open(srcPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.get() < 0) {
    int rc = -errno;
    why = describe("cannot open " + srcPath, rc);
    return rc;
  }
  ::posix_fadvise(src.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // larger read-ahead; advice only
  FileDescriptor dst(::open(dstPath.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (dst.get() < 0) {
    int rc = -errno;
    why = describe("cannot open " + dstPath, rc);
    return rc;
  }
  struct stat st;
  if (::fstat(dst.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
    why = "copy destination is not an empty regular file: " + dstPath;
    return -EEXIST;
  }
  if (::ftruncate(dst.get(), static_cast<off_t>(length)) != 0) {
    int rc = -errno;
    why = describe("cannot size " + dstPath, rc);
    return rc;
  }

  // SEEK_DATA skips the holes of a sparse source file; block devices and pipes say no.
  struct stat srcStat;
  bool seekable = ::fstat(src.get(), &srcStat) == 0 && S_ISREG(srcStat.st_mode);
  uint64_t dataBytes = 0;
  int rc = 0;
  std::vector<uint8_t> readBack(kChunkBytes);
  std::vector<std::pair<size_t, size_t>> runs;  // [from, to) within the chunk: not all zeros
  HashingStage hasher;
  uint64_t chunks = (length + kChunkBytes - 1) / kChunkBytes;
  for (uint64_t index = 0; index < chunks && rc == 0; ++index) {
    if (hooks.cancelled && hooks.cancelled()) {
      rc = -ECANCELED;
      why = "copy cancelled";
      break;
    }
    // Ask for the chunks after this one now: the device reads them while this one is
    // written and hashed (the kernel's own read-ahead window is far smaller than a chunk).
    if (index + 1 < chunks) {
      uint64_t ahead = (index + 1) * kChunkBytes;
      ::posix_fadvise(src.get(), static_cast<off_t>(ahead), static_cast<off_t>(std::min<uint64_t>(kPrefetchBytes, length - ahead)), POSIX_FADV_WILLNEED);
    }
    Chunk& chunk = hasher.slotFor(index);
    chunk.offset = index * kChunkBytes;
    chunk.length = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, length - chunk.offset));
    const uint8_t* bytes = chunk.bytes.data();
    size_t got = 0;
    rc = readSource(src.get(), seekable, chunk.bytes.data(), chunk.length, chunk.offset, &got);
    if (rc != 0) {
      why = describe("cannot read " + srcPath + " at byte " + std::to_string(chunk.offset), rc);
      break;
    }
    if (got < chunk.length) {
      rc = kSourceEndedEarly;
      why = srcPath + " ended after " + std::to_string(chunk.offset + got) + " of " + std::to_string(length) + " bytes";
      break;
    }
    hasher.publish(index);  // hashed from here on while this thread writes it

    // Write the runs of blocks that are not all zeros; zero blocks stay holes.
    runs.clear();
    size_t runStart = SIZE_MAX;
    size_t grains = (chunk.length + kHoleGrain - 1) / kHoleGrain;
    for (size_t grain = 0; grain <= grains; ++grain) {  // one step past the end closes the last run
      size_t at = std::min(grain * kHoleGrain, chunk.length);
      bool zero = grain == grains || isZero(bytes + at, std::min(at + kHoleGrain, chunk.length) - at);
      if (!zero && runStart == SIZE_MAX) runStart = at;
      if (zero && runStart != SIZE_MAX) {
        runs.emplace_back(runStart, at);
        runStart = SIZE_MAX;
      }
    }
    for (auto [from, to] : runs) {
      rc = pwriteFull(dst.get(), bytes + from, to - from, chunk.offset + from);
      if (rc != 0) {
        why = describe("cannot write " + dstPath + " at byte " + std::to_string(chunk.offset + from), rc);
        break;
      }
      dataBytes += to - from;
    }
    if (rc != 0 || runs.empty()) continue;
    // Start writeback now so the final fsync finds little left to do; the read-back below
    // still comes from the page cache.
    ::sync_file_range(dst.get(), static_cast<off_t>(chunk.offset), static_cast<off_t>(chunk.length), SYNC_FILE_RANGE_WRITE);
    // Read back what was written and compare it with what was read. The blocks skipped
    // are zeros in the source and holes in the destination, which was empty when sized.
    for (auto [from, to] : runs) {
      size_t back = 0;
      rc = preadFull(dst.get(), readBack.data(), to - from, chunk.offset + from, &back);
      if (rc != 0) {
        why = describe("cannot read back " + dstPath + " at byte " + std::to_string(chunk.offset + from), rc);
        break;
      }
      if (back != to - from || std::memcmp(readBack.data(), bytes + from, back) != 0) {
        size_t at = 0;
        while (at < back && readBack[at] == bytes[from + at]) ++at;
        rc = kReadBackMismatch;
        why = dstPath + " reads back differently from " + srcPath + " at byte " + std::to_string(chunk.offset + from + at);
        break;
      }
    }
    if (rc == 0 && hooks.progress) hooks.progress(hasher.bytesHashed());
  }
  if (rc != 0) return rc;  // ~HashingStage stops the hashing thread
  std::optional<std::string> digest = hasher.finish();
  if (!digest) {
    why = "SHA-256 of " + srcPath + ": libcrypto failed";
    return -EIO;
  }
  while (::fsync(dst.get()) != 0) {
    if (errno == EINTR) continue;
    rc = -errno;
    why = describe("cannot fsync " + dstPath, rc);
    return rc;
  }
  if (hooks.progress) hooks.progress(length);
  if (result) {
    result->sha256 = std::move(*digest);
    result->dataBytes = dataBytes;
  }
  return 0;
}

}  // namespace lanboot::image
