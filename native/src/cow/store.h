// Copy-on-write block store: a read-only golden image version shared by every seat, plus
// one seat's delta (changed chunks) and the map of which chunks the seat owns.
//
// Reads of chunks the seat never wrote are served from the golden file itself, so all
// seats share the golden file's page cache. Writes go to the delta; a write that covers a
// chunk only in part copies the rest of the chunk up from the golden file first.
// Durability: data is made durable before the map that points at it (flush()).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scsi/lun.h"

namespace lanboot::scsi {

struct CowStoreOptions {
  std::string goldenPath;   // immutable golden version file, opened read-only; "" = blank disk
  std::string deltaDir;     // directory holding the seat's delta files (created if missing)
  uint64_t sizeBytes = 0;   // 0 = size of the golden file (rounded down to 512)
  uint64_t quotaBytes = 0;  // 0 = no quota on delta usage
  bool readOnly = false;
  // Optional caller-given identity of the golden version (<= 64 bytes), recorded in the
  // delta's map header. "" = derived from the golden file (size, mtime, inode). A delta made
  // against another identity is refused at open().
  std::string goldenId;
};

// Error codes returned (negated errno style: 0 ok, <0 failure).
//   kSeatQuotaExceeded (-EDQUOT): the write would take this seat's delta past quotaBytes;
//                                 refused before anything was written
//   -ENOSPC: the data file system has no room (full disk, or an OS disk quota)
//   -EIO: I/O error   -EINVAL: out of range   -EROFS: read-only store
// -EDQUOT is reserved for the seat quota: the store turns every -EDQUOT the file system
// gives it (an OS user/project quota on the data disk) into -ENOSPC, because to us that is
// the disk being full, not the seat. So a caller can tell the two apart by the code alone.
constexpr int kSeatQuotaExceeded = -EDQUOT;

class CowStore {
 public:
  static std::shared_ptr<CowStore> open(const CowStoreOptions& options, std::string* error);
  virtual ~CowStore() = default;

  virtual uint64_t sizeBytes() const = 0;
  virtual bool readOnly() const = 0;

  // Appends the file extents that hold [offset, offset+length) to `out`.
  virtual int readExtents(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) = 0;
  // Reads into memory (copy-up, COMPARE, VERIFY with BYTCHK).
  virtual int read(uint64_t offset, uint64_t length, uint8_t* out) = 0;
  // Writes; fua = durable before return (data, then map).
  virtual int write(uint64_t offset, const uint8_t* data, uint64_t length, bool fua) = 0;
  // Makes the range read as zeros (WRITE SAME with a zero block). Whole chunks become holes
  // in the delta that the seat owns, so zeroing costs no delta space; fua as in write().
  virtual int writeZeroes(uint64_t offset, uint64_t length, bool fua) = 0;
  // COMPARE AND WRITE: atomically (no other write in between) compares [offset, +length)
  // with `expected`; if equal writes `replacement` there (fua as in write()). On a mismatch
  // returns -EILSEQ and sets *mismatchOffset to the offset of the first differing byte.
  virtual int compareAndWrite(uint64_t offset, const uint8_t* expected, const uint8_t* replacement, uint64_t length,
                              bool fua, uint64_t* mismatchOffset) = 0;
  // Drops the seat's chunks fully inside the range: they read as golden again (UNMAP).
  virtual int discard(uint64_t offset, uint64_t length) = 0;
  // Data then map to stable storage.
  virtual int flush() = 0;
  // Drops every chunk the seat wrote: the disk equals its golden version again. O(1)-ish
  // in disk size (truncate + clear map), made durable before return.
  virtual int reset() = 0;

  virtual uint64_t deltaBytesUsed() const = 0;  // allocated bytes of the delta data

  // Changes the delta quota of an open store (0 = none); writes from now on are held to it.
  // A delta already above a lowered quota keeps its data: only new chunks are refused.
  virtual void setQuotaBytes(uint64_t quotaBytes) = 0;

  // Flushes, then writes the whole disk (what a reader sees) into destFd at the same
  // offsets: chunks the seat owns from the delta, the others from golden, both with holes
  // kept (cow/export.h). destFd must be a fresh file already sized to sizeBytes() (its holes
  // read as zeros). `progress` gets the bytes done so far after each run. 0 or -errno.
  virtual int exportTo(int destFd, const std::function<void(uint64_t)>& progress) = 0;

  // The transport could not send an extent this store handed out (readExtents): sendfile(2)
  // failed on the file side with `error` (errno), or the file ended before the extent did.
  // Nothing to do for the store itself; a decorator reports it (cow/fault_report.h).
  virtual void noteReadFault(int error) {}
};

}  // namespace lanboot::scsi
