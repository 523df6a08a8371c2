// File-backed copy-on-write store (see store.h and docs/cow-store.md).
//
// Files in the delta directory:
//   delta.data  sparse, same offsets as the virtual disk (no mapping table)
//   delta.map   header (cow/map_header.h) + one bit per 4 KiB chunk
//
// Invariants that make a kill -9 safe:
//   - A map bit is set in memory only after the chunk's data was written to delta.data.
//   - flush() snapshots the dirty map pages, then fdatasync(delta.data), then writes the
//     snapshot, then fdatasync(delta.map): every bit that reaches the disk points at data that
//     reached the disk first ("data before the metadata that points at it").
//   - reset() zeroes the map durably before it truncates delta.data.
#include "cow/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "cow/export.h"
#include "cow/map_header.h"

namespace lanboot::scsi {
namespace {

using cow::kChunkSize;
using cow::kMapHeaderSize;

constexpr uint64_t kMapPageSize = 4096;                       // bitmap bytes per dirty unit
constexpr uint32_t kMaxExtentLength = 1u << 30;                // keeps FileExtent::length in range
constexpr const char* kDataFileName = "delta.data";
constexpr const char* kMapFileName = "delta.map";

std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Every file-system error leaves the store through here. An OS quota on the data disk
// (EDQUOT) means the disk is full to us: -EDQUOT is kept for the seat's own quota (store.h).
int fileSystemError(int err) { return err == EDQUOT ? -ENOSPC : -err; }

int negErrno(int fallback = EIO) { return fileSystemError(errno != 0 ? errno : fallback); }

// pread/pwrite that finish the whole transfer (or report why not). pread stops at EOF and
// returns how many bytes it got.
ssize_t preadFull(int fd, uint8_t* buffer, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

int pwriteFull(int fd, const uint8_t* buffer, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return negErrno();
    }
    if (n == 0) return -EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

int fdatasyncChecked(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return negErrno();
  }
  return 0;
}

int fsyncChecked(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return negErrno();
  }
  return 0;
}

bool makeDirectories(const std::string& path, std::string* error) {
  if (path.empty()) return false;
  std::string partial;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    partial = path.substr(0, slash);
    pos = slash + 1;
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = errnoText("cannot create delta directory " + partial, errno);
      return false;
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "delta directory is not a directory: " + path;
    return false;
  }
  return true;
}

int syncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return negErrno();
  int rc = fsyncChecked(fd);
  ::close(fd);
  return rc;
}

class FileCowStore final : public CowStore {
 public:
  ~FileCowStore() override {
    if (dataFd_ >= 0 && !readOnly_) flush();
    if (goldenFd_ >= 0) ::close(goldenFd_);
    if (dataFd_ >= 0) ::close(dataFd_);
    if (mapFd_ >= 0) ::close(mapFd_);  // also releases the flock
  }

  static std::shared_ptr<CowStore> create(const CowStoreOptions& options, std::string* error);

  uint64_t sizeBytes() const override { return sizeBytes_; }
  bool readOnly() const override { return readOnly_; }

  int readExtents(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) override {
    if (!inRange(offset, length)) return -EINVAL;
    if (length == 0) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    appendExtentsLocked(offset, length, out);
    return 0;
  }

  int read(uint64_t offset, uint64_t length, uint8_t* out) override {
    if (!inRange(offset, length)) return -EINVAL;
    if (length == 0) return 0;
    std::vector<FileExtent> extents;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      appendExtentsLocked(offset, length, extents);
    }
    return readFromExtents(extents, out);
  }

  int write(uint64_t offset, const uint8_t* data, uint64_t length, bool fua) override {
    if (readOnly_) return -EROFS;
    if (!inRange(offset, length)) return -EINVAL;
    if (length == 0) return fua ? flush() : 0;
    int rc = writeLocked(offset, data, length);
    if (rc != 0) return rc;
    return fua ? flush() : 0;
  }

  int compareAndWrite(uint64_t offset, const uint8_t* expected, const uint8_t* replacement, uint64_t length, bool fua,
                      uint64_t* mismatchOffset) override {
    if (readOnly_) return -EROFS;
    if (!inRange(offset, length)) return -EINVAL;
    if (length == 0) return 0;
    {
      // One critical section for read, compare and write: no other write can slip in.
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<uint8_t> current(length);
      std::vector<FileExtent> extents;
      appendExtentsLocked(offset, length, extents);
      int rc = readFromExtents(extents, current.data());
      if (rc != 0) return rc;
      for (uint64_t i = 0; i < length; ++i) {
        if (current[i] != expected[i]) {
          if (mismatchOffset) *mismatchOffset = i;
          return -EILSEQ;
        }
      }
      rc = writeHoldingLock(offset, replacement, length);
      if (rc != 0) return rc;
    }
    return fua ? flush() : 0;
  }

  int writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    if (readOnly_) return -EROFS;
    if (!inRange(offset, length)) return -EINVAL;
    uint64_t end = offset + length;
    uint64_t firstFull = (offset + kChunkSize - 1) / kChunkSize;
    uint64_t endFull = end == sizeBytes_ ? chunkCount_ : end / kChunkSize;
    int rc = 0;
    if (firstFull >= endFull) {
      rc = writeZeroBuffers(offset, end);
    } else {
      uint64_t fullStart = firstFull * kChunkSize;
      uint64_t fullEnd = std::min(endFull * kChunkSize, sizeBytes_);
      rc = writeZeroBuffers(offset, fullStart);
      if (rc == 0) rc = writeZeroBuffers(fullEnd, end);
      if (rc == 0) {
        std::unique_lock<std::mutex> lock(mutex_);
        // A punched hole the seat owns reads as zeros and takes no space. The bits are set
        // only after the punch, like any other write.
        if (::fallocate(dataFd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(fullStart),
                        static_cast<off_t>(fullEnd - fullStart)) == 0) {
          for (uint64_t chunk = firstFull; chunk < endFull; ++chunk) {
            if (!testBit(chunk)) assignBit(chunk, true);
          }
          dataDirty_ = true;
        } else {
          lock.unlock();  // no hole punching here (e.g. some file systems): write real zeros
          rc = writeZeroBuffers(fullStart, fullEnd);
        }
      }
    }
    if (rc != 0) return rc;
    return fua ? flush() : 0;
  }

  int discard(uint64_t offset, uint64_t length) override {
    if (readOnly_) return -EROFS;
    if (!inRange(offset, length)) return -EINVAL;
    if (length == 0) return 0;
    // Only chunks fully inside the range are dropped (SBC-3 5.28: the device server may
    // unmap fewer blocks than asked). The disk's last chunk may be shorter than kChunkSize.
    uint64_t end = offset + length;
    uint64_t firstChunk = (offset + kChunkSize - 1) / kChunkSize;
    uint64_t endChunk = end == sizeBytes_ ? chunkCount_ : end / kChunkSize;
    if (firstChunk >= endChunk) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    // Only runs the seat owns have blocks worth freeing; freeing is slow on some file
    // systems (ext4 with `discard`), so unowned runs cost no syscall at all.
    for (uint64_t chunk = firstChunk; chunk < endChunk;) {
      if (!testBit(chunk)) {
        chunk = runEnd(chunk, endChunk, false);
        continue;
      }
      uint64_t runStop = runEnd(chunk, endChunk, true);
      for (uint64_t owned = chunk; owned < runStop; ++owned) assignBit(owned, false);
      uint64_t punchStart = chunk * kChunkSize;
      uint64_t punchEnd = std::min(runStop * kChunkSize, sizeBytes_);
      // The bits are already clear, so these bytes no longer matter: a failed punch only
      // costs space, never correctness.
      (void)::fallocate(dataFd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(punchStart),
                        static_cast<off_t>(punchEnd - punchStart));
      dataDirty_ = true;
      chunk = runStop;
    }
    return 0;
  }

  int flush() override {
    if (readOnly_ || dataFd_ < 0) return 0;
    std::lock_guard<std::mutex> flushLock(flushMutex_);
    std::vector<std::pair<uint64_t, std::vector<uint8_t>>> pages;
    bool dataWasDirty;
    {
      // Snapshot under the map lock: every bit in the snapshot was set after its data was
      // written, so the fdatasync below covers that data.
      std::lock_guard<std::mutex> lock(mutex_);
      dataWasDirty = dataDirty_;
      dataDirty_ = false;
      for (uint64_t page = 0; page < dirtyPages_.size(); ++page) {
        if (!dirtyPages_[page]) continue;
        dirtyPages_[page] = 0;
        uint64_t begin = page * kMapPageSize;
        uint64_t end = std::min<uint64_t>(begin + kMapPageSize, bitmap_.size());
        pages.emplace_back(page, std::vector<uint8_t>(bitmap_.begin() + begin, bitmap_.begin() + end));
      }
    }
    if (!dataWasDirty && pages.empty()) return 0;
    auto restore = [&]() {
      std::lock_guard<std::mutex> lock(mutex_);
      dataDirty_ = dataDirty_ || dataWasDirty;
      for (auto& page : pages) dirtyPages_[page.first] = 1;
    };
    int rc = fdatasyncChecked(dataFd_);
    if (rc != 0) {
      restore();
      return rc;
    }
    for (auto& page : pages) {
      rc = pwriteFull(mapFd_, page.second.data(), page.second.size(), kMapHeaderSize + page.first * kMapPageSize);
      if (rc != 0) break;
    }
    if (rc == 0 && !pages.empty()) rc = fdatasyncChecked(mapFd_);
    if (rc != 0) restore();
    return rc;
  }

  int exportTo(int destFd, const std::function<void(uint64_t)>& progress) override {
    int rc = flush();
    if (rc != 0) return rc;
    // Runs are capped so progress moves on a big uniform disk.
    constexpr uint64_t kMaxRunChunks = (64u << 20) / kChunkSize;
    for (uint64_t chunk = 0; chunk < chunkCount_;) {
      bool owned;
      uint64_t next;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        owned = dataFd_ >= 0 && testBit(chunk);
        next = runEnd(chunk, std::min(chunkCount_, chunk + kMaxRunChunks), owned);
      }
      uint64_t start = chunk * kChunkSize;
      uint64_t stop = std::min(next * kChunkSize, sizeBytes_);
      if (owned) {
        rc = copyRangeSparse(dataFd_, sizeBytes_, destFd, start, stop - start);
      } else if (goldenFd_ >= 0) {
        rc = copyRangeSparse(goldenFd_, goldenSize_, destFd, start, stop - start);
      }
      if (rc != 0) return fileSystemError(-rc);  // an OS quota on the destination is "no space" too
      if (progress) progress(stop);
      chunk = next;
    }
    return 0;
  }

  int reset() override {
    if (readOnly_) return -EROFS;
    std::lock_guard<std::mutex> flushLock(flushMutex_);
    std::lock_guard<std::mutex> lock(mutex_);
    // 1. The map first, durably: from here on every chunk reads golden, whatever delta.data
    //    still holds. Truncate + extend makes the bitmap sparse zeros in O(1).
    uint64_t mapSize = kMapHeaderSize + bitmap_.size();
    if (::ftruncate(mapFd_, static_cast<off_t>(kMapHeaderSize)) != 0) return negErrno();
    if (::ftruncate(mapFd_, static_cast<off_t>(mapSize)) != 0) return negErrno();
    int rc = fsyncChecked(mapFd_);
    if (rc != 0) return rc;
    std::fill(bitmap_.begin(), bitmap_.end(), 0);
    std::fill(dirtyPages_.begin(), dirtyPages_.end(), 0);
    // 2. Then the data. Freeing the blocks of a large, fragmented delta in place (truncate or
    //    punch) is slow: measured here, 450 MiB of random 4 KiB writes took 87 s to truncate
    //    on ext4 mounted with `discard`. So a fresh sparse file replaces delta.data by rename
    //    and the old inode's blocks are freed by a background thread.
    const std::string freshPath = dataPath_ + ".new";
    int fresh = ::open(freshPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool replaced = fresh >= 0 && ::ftruncate(fresh, static_cast<off_t>(sizeBytes_)) == 0 && fsyncChecked(fresh) == 0 &&
                    ::rename(freshPath.c_str(), dataPath_.c_str()) == 0;
    if (replaced) {
      syncDirectory(deltaDir_);
      int retired = dataFd_;
      dataFd_ = fresh;
      dataDirty_ = false;
      // Extents handed out before the reset may still name `retired`: it stays open (reading
      // zeros once truncated) until its blocks are freed, so its number is not reused while
      // a command that started before the reset could still send from it.
      std::thread([retired]() {
        (void)::ftruncate(retired, 0);
        ::close(retired);
      }).detach();
      return 0;
    }
    if (fresh >= 0) {
      ::close(fresh);
      ::unlink(freshPath.c_str());
    }
    // Fallback (no space for a new inode, rename refused): drop the blocks in place. Punching
    // keeps the size, so a sendfile(2) from an earlier extent reads zeros instead of EOF.
    if (::fallocate(dataFd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(sizeBytes_)) != 0) {
      if (::ftruncate(dataFd_, 0) != 0) return negErrno();
      if (::ftruncate(dataFd_, static_cast<off_t>(sizeBytes_)) != 0) return negErrno();
    }
    rc = fsyncChecked(dataFd_);
    dataDirty_ = false;
    return rc;
  }

  uint64_t deltaBytesUsed() const override {
    std::lock_guard<std::mutex> lock(mutex_);  // reset() swaps dataFd_
    return deltaBytesUsedLocked();
  }

  void setQuotaBytes(uint64_t quotaBytes) override {
    std::lock_guard<std::mutex> lock(mutex_);  // writes read it under the same lock
    quotaBytes_ = quotaBytes;
  }

 private:
  uint64_t deltaBytesUsedLocked() const {
    if (dataFd_ < 0) return 0;
    struct stat st;
    if (::fstat(dataFd_, &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  bool inRange(uint64_t offset, uint64_t length) const {
    return offset <= sizeBytes_ && length <= sizeBytes_ - offset;
  }

  bool testBit(uint64_t chunk) const { return (bitmap_[chunk >> 3] >> (chunk & 7)) & 1; }

  void assignBit(uint64_t chunk, bool value) {
    uint8_t mask = static_cast<uint8_t>(1u << (chunk & 7));
    if (value)
      bitmap_[chunk >> 3] |= mask;
    else
      bitmap_[chunk >> 3] &= static_cast<uint8_t>(~mask);
    dirtyPages_[(chunk >> 3) / kMapPageSize] = 1;
  }

  // First chunk in [chunk, endChunk) whose bit differs from `value` (or endChunk).
  uint64_t runEnd(uint64_t chunk, uint64_t endChunk, bool value) const {
    const uint8_t whole = value ? 0xFF : 0x00;
    while (chunk < endChunk) {
      if ((chunk & 7) == 0 && chunk + 8 <= endChunk && bitmap_[chunk >> 3] == whole) {
        chunk += 8;
        continue;
      }
      if (testBit(chunk) != value) return chunk;
      ++chunk;
    }
    return endChunk;
  }

  static void appendExtent(std::vector<FileExtent>& out, int fd, uint64_t offset, uint64_t length) {
    while (length > 0) {
      if (!out.empty()) {
        FileExtent& last = out.back();
        bool contiguous = last.fd == fd && (fd < 0 || last.offset + last.length == offset);
        if (contiguous && last.length < kMaxExtentLength) {
          uint64_t add = std::min<uint64_t>(length, kMaxExtentLength - last.length);
          last.length += static_cast<uint32_t>(add);
          offset += add;
          length -= add;
          continue;
        }
      }
      uint32_t piece = static_cast<uint32_t>(std::min<uint64_t>(length, kMaxExtentLength));
      out.push_back(FileExtent{fd, fd < 0 ? 0 : offset, piece});
      offset += piece;
      length -= piece;
    }
  }

  // Golden bytes [offset, offset+length): from the golden file up to its end, zeros after.
  void appendGoldenExtent(std::vector<FileExtent>& out, uint64_t offset, uint64_t length) const {
    if (goldenFd_ >= 0 && offset < goldenSize_) {
      uint64_t fromFile = std::min(length, goldenSize_ - offset);
      appendExtent(out, goldenFd_, offset, fromFile);
      offset += fromFile;
      length -= fromFile;
    }
    if (length > 0) appendExtent(out, -1, offset, length);
  }

  void appendExtentsLocked(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) const {
    uint64_t end = offset + length;
    uint64_t chunk = offset / kChunkSize;
    uint64_t endChunk = (end + kChunkSize - 1) / kChunkSize;
    uint64_t position = offset;
    while (chunk < endChunk) {
      bool owned = dataFd_ >= 0 && testBit(chunk);
      uint64_t next = runEnd(chunk, endChunk, owned);
      uint64_t runStop = std::min(next * kChunkSize, end);
      if (owned)
        appendExtent(out, dataFd_, position, runStop - position);
      else
        appendGoldenExtent(out, position, runStop - position);
      position = runStop;
      chunk = next;
    }
  }

  int readFromExtents(const std::vector<FileExtent>& extents, uint8_t* out) const {
    for (const FileExtent& e : extents) {
      if (e.fd < 0) {
        std::memset(out, 0, e.length);
      } else {
        ssize_t got = preadFull(e.fd, out, e.length, e.offset);
        if (got < 0) return negErrno();
        if (static_cast<uint64_t>(got) < e.length) {
          // Golden extents stop at the golden size measured at open, and a writable delta's
          // data file was sized to the whole disk at open: a file ending early was cut
          // under us (or the disk lies). Zeros here would be silent corruption: an error.
          // Only a read-only delta may be shorter (sparse, never resized): zeros past its end.
          if (e.fd == goldenFd_ || !readOnly_) return -EIO;
          std::memset(out + got, 0, e.length - static_cast<size_t>(got));
        }
      }
      out += e.length;
    }
    return 0;
  }

  // Writes one chunk the seat does not own yet, covered only in part by the write: the rest
  // of the chunk is copied up from golden so the whole chunk can be owned (no per-sector map).
  int copyUpAndWriteLocked(uint64_t chunk, uint64_t writeOffset, const uint8_t* data, uint64_t writeLength) {
    uint64_t chunkStart = chunk * kChunkSize;
    uint64_t chunkLength = std::min<uint64_t>(kChunkSize, sizeBytes_ - chunkStart);
    uint8_t buffer[kChunkSize];
    std::vector<FileExtent> extents;
    appendGoldenExtent(extents, chunkStart, chunkLength);
    int rc = readFromExtents(extents, buffer);
    if (rc != 0) return rc;
    std::memcpy(buffer + (writeOffset - chunkStart), data, writeLength);
    return pwriteFull(dataFd_, buffer, chunkLength, chunkStart);
  }

  int writeZeroBuffers(uint64_t begin, uint64_t end) {
    if (begin >= end) return 0;
    static const std::vector<uint8_t> zeros(1u << 20, 0);
    for (uint64_t position = begin; position < end;) {
      uint64_t piece = std::min<uint64_t>(end - position, zeros.size());
      int rc = writeLocked(position, zeros.data(), piece);
      if (rc != 0) return rc;
      position += piece;
    }
    return 0;
  }

  int writeLocked(uint64_t offset, const uint8_t* data, uint64_t length) {
    std::lock_guard<std::mutex> lock(mutex_);
    return writeHoldingLock(offset, data, length);
  }

  // The write itself; the caller holds mutex_.
  int writeHoldingLock(uint64_t offset, const uint8_t* data, uint64_t length) {
    uint64_t end = offset + length;
    uint64_t firstChunk = offset / kChunkSize;
    uint64_t endChunk = (end + kChunkSize - 1) / kChunkSize;

    uint64_t newChunks = 0;
    for (uint64_t chunk = firstChunk; chunk < endChunk;) {
      if (testBit(chunk)) {
        chunk = runEnd(chunk, endChunk, true);
        continue;
      }
      uint64_t next = runEnd(chunk, endChunk, false);
      newChunks += next - chunk;
      chunk = next;
    }
    if (quotaBytes_ != 0 && newChunks != 0) {
      uint64_t used = deltaBytesUsedLocked();
      if (used + newChunks * kChunkSize > quotaBytes_) return kSeatQuotaExceeded;
    }

    // Edge chunks covered in part and not owned yet: copy-up merge. Everything else is
    // written straight from the caller's buffer.
    uint64_t directStart = offset;
    uint64_t directEnd = end;
    int rc = 0;
    uint64_t headChunkEnd = std::min((firstChunk + 1) * kChunkSize, sizeBytes_);
    bool headPartial = offset % kChunkSize != 0 || end < headChunkEnd;
    if (headPartial && !testBit(firstChunk)) {
      uint64_t pieceEnd = std::min(end, headChunkEnd);
      rc = copyUpAndWriteLocked(firstChunk, offset, data, pieceEnd - offset);
      directStart = pieceEnd;
    }
    uint64_t lastChunk = endChunk - 1;
    if (rc == 0 && lastChunk != firstChunk) {
      uint64_t tailChunkStart = lastChunk * kChunkSize;
      uint64_t tailChunkEnd = std::min(tailChunkStart + kChunkSize, sizeBytes_);
      if (end < tailChunkEnd && !testBit(lastChunk)) {
        rc = copyUpAndWriteLocked(lastChunk, tailChunkStart, data + (tailChunkStart - offset), end - tailChunkStart);
        directEnd = tailChunkStart;
      }
    }
    if (rc == 0 && directStart < directEnd) {
      rc = pwriteFull(dataFd_, data + (directStart - offset), directEnd - directStart, directStart);
    }
    if (rc != 0) {
      // The chunks this write would have claimed stay unowned: they still read as before
      // the write. Give back any space the failed write allocated in them.
      for (uint64_t chunk = firstChunk; chunk < endChunk; ++chunk) {
        if (testBit(chunk)) continue;
        uint64_t start = chunk * kChunkSize;
        ::fallocate(dataFd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(start),
                    static_cast<off_t>(std::min<uint64_t>(kChunkSize, sizeBytes_ - start)));
      }
      return rc;  // file-system errors came through negErrno: never kSeatQuotaExceeded
    }
    // Data is in delta.data (page cache); only now may the map point at it.
    for (uint64_t chunk = firstChunk; chunk < endChunk; ++chunk) {
      if (!testBit(chunk)) assignBit(chunk, true);
    }
    dataDirty_ = true;
    return 0;
  }

  int goldenFd_ = -1;
  uint64_t goldenSize_ = 0;
  std::string deltaDir_;
  std::string dataPath_;
  int dataFd_ = -1;  // -1: read-only store without a delta
  int mapFd_ = -1;
  uint64_t sizeBytes_ = 0;
  uint64_t chunkCount_ = 0;
  uint64_t quotaBytes_ = 0;
  bool readOnly_ = false;

  std::mutex flushMutex_;  // one flush/reset at a time (keeps map page writes in order)
  mutable std::mutex mutex_;  // the bitmap, dirty flags, and every write to delta.data
  std::vector<uint8_t> bitmap_;
  std::vector<uint8_t> dirtyPages_;  // one flag per kMapPageSize bytes of bitmap
  bool dataDirty_ = false;
};

std::shared_ptr<CowStore> FileCowStore::create(const CowStoreOptions& options, std::string* errorOut) {
  std::string scratch;
  std::string& error = errorOut ? *errorOut : scratch;
  std::shared_ptr<FileCowStore> store(new FileCowStore());
  store->readOnly_ = options.readOnly;
  store->quotaBytes_ = options.quotaBytes;

  std::string identity = options.goldenId;
  if (identity.size() > cow::kGoldenIdentityMax) {
    error = "goldenId longer than 64 bytes";
    return nullptr;
  }
  if (!options.goldenPath.empty()) {
    store->goldenFd_ = ::open(options.goldenPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (store->goldenFd_ < 0) {
      error = errnoText("cannot open golden image " + options.goldenPath, errno);
      return nullptr;
    }
    struct stat st;
    if (::fstat(store->goldenFd_, &st) != 0) {
      error = errnoText("cannot stat golden image", errno);
      return nullptr;
    }
    if (S_ISREG(st.st_mode)) {
      store->goldenSize_ = static_cast<uint64_t>(st.st_size);
    } else if (S_ISBLK(st.st_mode)) {
      off_t end = ::lseek(store->goldenFd_, 0, SEEK_END);
      if (end < 0) {
        error = errnoText("cannot size golden block device", errno);
        return nullptr;
      }
      store->goldenSize_ = static_cast<uint64_t>(end);
    } else {
      error = "golden image is neither a regular file nor a block device: " + options.goldenPath;
      return nullptr;
    }
    if (identity.empty()) {
      identity = "file:" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                 std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
    }
  } else if (identity.empty()) {
    identity = "blank";
  }

  uint64_t size = options.sizeBytes != 0 ? options.sizeBytes : store->goldenSize_ / 512 * 512;
  if (size == 0) {
    error = "disk size is 0 (empty golden image and no sizeBytes)";
    return nullptr;
  }
  if (size % 512 != 0) {
    error = "disk size must be a multiple of 512 bytes";
    return nullptr;
  }
  if (size > (uint64_t{1} << 50)) {  // 1 PiB: keeps the in-memory bitmap bounded (32 GiB would be absurd)
    error = "disk size too large";
    return nullptr;
  }
  store->sizeBytes_ = size;
  store->chunkCount_ = cow::chunkCountFor(size);
  store->bitmap_.assign(cow::bitmapBytesFor(size), 0);
  store->dirtyPages_.assign((store->bitmap_.size() + kMapPageSize - 1) / kMapPageSize, 0);

  if (options.deltaDir.empty()) {
    if (!options.readOnly) {
      error = "deltaDir is required for a writable disk";
      return nullptr;
    }
    return store;
  }
  const std::string mapPath = options.deltaDir + "/" + kMapFileName;
  const std::string dataPath = options.deltaDir + "/" + kDataFileName;
  store->deltaDir_ = options.deltaDir;
  store->dataPath_ = dataPath;
  struct stat mapStat;
  bool mapExists = ::stat(mapPath.c_str(), &mapStat) == 0;
  if (!mapExists && options.readOnly) return store;  // nothing written yet: pure golden
  if (!mapExists) {
    if (!makeDirectories(options.deltaDir, &error)) return nullptr;
    // Fresh delta: data file first, then the map published atomically by rename.
    int dataFd = ::open(dataPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (dataFd < 0) {
      error = errnoText("cannot create " + dataPath, errno);
      return nullptr;
    }
    bool ok = ::ftruncate(dataFd, static_cast<off_t>(size)) == 0 && fsyncChecked(dataFd) == 0;
    int savedErrno = errno;
    ::close(dataFd);
    if (!ok) {
      error = errnoText("cannot size " + dataPath, savedErrno);
      return nullptr;
    }
    const std::string tmpPath = mapPath + ".tmp";
    int tmpFd = ::open(tmpPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (tmpFd < 0) {
      error = errnoText("cannot create " + tmpPath, errno);
      return nullptr;
    }
    uint8_t header[kMapHeaderSize] = {};
    cow::MapHeader mapHeader;
    mapHeader.diskSizeBytes = size;
    mapHeader.goldenIdentity = identity;
    cow::encodeMapHeader(mapHeader, header);
    ok = pwriteFull(tmpFd, header, sizeof(header), 0) == 0 &&
         ::ftruncate(tmpFd, static_cast<off_t>(kMapHeaderSize + store->bitmap_.size())) == 0 && fsyncChecked(tmpFd) == 0;
    savedErrno = errno;
    ::close(tmpFd);
    if (!ok || ::rename(tmpPath.c_str(), mapPath.c_str()) != 0) {
      error = errnoText("cannot write " + mapPath, ok ? errno : savedErrno);
      ::unlink(tmpPath.c_str());
      return nullptr;
    }
    syncDirectory(options.deltaDir);
  }

  const int openMode = options.readOnly ? O_RDONLY : O_RDWR;
  store->mapFd_ = ::open(mapPath.c_str(), openMode | O_CLOEXEC);
  if (store->mapFd_ < 0) {
    error = errnoText("cannot open " + mapPath, errno);
    return nullptr;
  }
  // One writer per delta: a second store (another process, or a stale session) would race
  // on the map. flock is per open file description, so this also catches the same process.
  if (::flock(store->mapFd_, (options.readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    error = errnoText("delta is in use by another store: " + mapPath, errno);
    return nullptr;
  }
  uint8_t header[cow::kMapHeaderEncodedSize];
  ssize_t got = preadFull(store->mapFd_, header, sizeof(header), 0);
  if (got < 0) {
    error = errnoText("cannot read " + mapPath, errno);
    return nullptr;
  }
  cow::MapHeader mapHeader;
  std::string why;
  if (!cow::decodeMapHeader(header, static_cast<size_t>(got), &mapHeader, &why)) {
    error = mapPath + ": " + why;
    return nullptr;
  }
  if (mapHeader.diskSizeBytes != size) {
    error = "delta was made for a disk of " + std::to_string(mapHeader.diskSizeBytes) + " bytes, not " +
            std::to_string(size) + ": " + mapPath;
    return nullptr;
  }
  if (mapHeader.goldenIdentity != identity) {
    error = "delta was made against another golden image (" + mapHeader.goldenIdentity + ", now " + identity +
            "): " + mapPath;
    return nullptr;
  }
  // A map shorter than the bitmap is what an interrupted reset() leaves: missing bytes are
  // zero bits ("read golden"), which is exactly what the reset was making durable.
  got = preadFull(store->mapFd_, store->bitmap_.data(), store->bitmap_.size(), kMapHeaderSize);
  if (got < 0) {
    error = errnoText("cannot read bitmap of " + mapPath, errno);
    return nullptr;
  }
  uint64_t tailBits = store->chunkCount_ % 8;
  if (tailBits != 0) store->bitmap_.back() &= static_cast<uint8_t>((1u << tailBits) - 1);
  bool anyOwned = std::any_of(store->bitmap_.begin(), store->bitmap_.end(), [](uint8_t b) { return b != 0; });

  store->dataFd_ = ::open(dataPath.c_str(), openMode | O_CLOEXEC);
  if (store->dataFd_ < 0) {
    if (errno == ENOENT && !anyOwned && !options.readOnly) {
      store->dataFd_ = ::open(dataPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (store->dataFd_ < 0) {
      error = errnoText("cannot open " + dataPath + (anyOwned ? " (the map owns chunks: delta inconsistent)" : ""), errno);
      return nullptr;
    }
  }
  if (!options.readOnly) {
    struct stat dataStat;
    if (::fstat(store->dataFd_, &dataStat) != 0) {
      error = errnoText("cannot stat " + dataPath, errno);
      return nullptr;
    }
    if (static_cast<uint64_t>(dataStat.st_size) != size && ::ftruncate(store->dataFd_, static_cast<off_t>(size)) != 0) {
      error = errnoText("cannot size " + dataPath, errno);
      return nullptr;
    }
    if (static_cast<uint64_t>(got) < store->bitmap_.size() &&
        ::ftruncate(store->mapFd_, static_cast<off_t>(kMapHeaderSize + store->bitmap_.size())) != 0) {
      error = errnoText("cannot size " + mapPath, errno);
      return nullptr;
    }
  }
  return store;
}

}  // namespace

std::shared_ptr<CowStore> CowStore::open(const CowStoreOptions& options, std::string* error) {
  return FileCowStore::create(options, error);
}

}  // namespace lanboot::scsi
