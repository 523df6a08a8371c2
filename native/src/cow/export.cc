// See export.h.
#include "cow/export.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace lanboot::scsi {
namespace {

std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(-err); }

int syncFd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

// Plain read/write loop: where copy_file_range cannot work (block-device golden, across file
// systems on old kernels, file systems without it).
int copyWithBuffer(int srcFd, int dstFd, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> buffer(std::min<uint64_t>(length, 1u << 20));
  while (length > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(length, buffer.size()));
    ssize_t got = ::pread(srcFd, buffer.data(), want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (got == 0) return 0;  // source ended: the rest stays a hole (zeros)
    size_t done = 0;
    while (done < static_cast<size_t>(got)) {
      ssize_t put = ::pwrite(dstFd, buffer.data() + done, static_cast<size_t>(got) - done, static_cast<off_t>(offset + done));
      if (put < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      done += static_cast<size_t>(put);
    }
    offset += static_cast<uint64_t>(got);
    length -= static_cast<uint64_t>(got);
  }
  return 0;
}

int copyData(int srcFd, int dstFd, uint64_t offset, uint64_t length) {
  while (length > 0) {
    loff_t in = static_cast<loff_t>(offset);
    loff_t out = static_cast<loff_t>(offset);
    size_t want = static_cast<size_t>(std::min<uint64_t>(length, 1u << 30));
    ssize_t n = ::copy_file_range(srcFd, &in, dstFd, &out, want, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF) {
        return copyWithBuffer(srcFd, dstFd, offset, length);
      }
      return -errno;
    }
    if (n == 0) return 0;  // source EOF
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return 0;
}

}  // namespace

int copyRangeSparse(int srcFd, uint64_t srcSize, int dstFd, uint64_t offset, uint64_t length) {
  uint64_t end = std::min(offset + length, srcSize);
  uint64_t position = offset;
  while (position < end) {
    off_t data = ::lseek(srcFd, static_cast<off_t>(position), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return 0;  // only a hole from here to the end of the file
      // No SEEK_DATA here (block device, old file system): copy it all.
      return copyData(srcFd, dstFd, position, end - position);
    }
    uint64_t dataStart = static_cast<uint64_t>(data);
    if (dataStart >= end) return 0;
    off_t hole = ::lseek(srcFd, static_cast<off_t>(dataStart), SEEK_HOLE);
    uint64_t dataEnd = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    int rc = copyData(srcFd, dstFd, dataStart, dataEnd - dataStart);
    if (rc != 0) return rc;
    position = dataEnd;
  }
  return 0;
}

int exportDisk(const CowStoreOptions& options, const std::string& destPath, const ExportProgress& progress,
               std::string* error) {
  std::string scratch;
  std::string& why = error ? *error : scratch;
  CowStoreOptions readOnly = options;
  readOnly.readOnly = true;
  auto store = CowStore::open(readOnly, &why);
  if (!store) return why.find("in use") != std::string::npos ? -EBUSY : -EIO;
  // The image store creates the partial file (empty, private) before handing it over; any
  // other existing content is refused, never overwritten.
  int fd = ::open(destPath.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int rc = -errno;
    why = errnoText("cannot create " + destPath, rc);
    return rc;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
    ::close(fd);
    why = "export destination exists and is not an empty file: " + destPath;
    return -EEXIST;
  }
  int rc = 0;
  if (::ftruncate(fd, static_cast<off_t>(store->sizeBytes())) != 0) {
    rc = -errno;
    why = errnoText("cannot size " + destPath, rc);
  }
  if (rc == 0) {
    rc = store->exportTo(fd, progress);
    if (rc != 0) why = errnoText("cannot export the disk to " + destPath, rc);
  }
  if (rc == 0) {
    rc = syncFd(fd);
    if (rc != 0) why = errnoText("cannot fsync " + destPath, rc);
  }
  ::close(fd);
  if (rc != 0) ::unlink(destPath.c_str());
  return rc;
}

bool deltaIsIdle(const std::string& deltaDir) {
  int fd = ::open((deltaDir + "/delta.map").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  bool idle = ::flock(fd, LOCK_SH | LOCK_NB) == 0;
  ::close(fd);  // releases the shared lock
  return idle;
}

int copySparseFile(const std::string& srcPath, const std::string& dstPath, std::string* error) {
  std::string scratch;
  std::string& why = error ? *error : scratch;
  int src = ::open(srcPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    int rc = -errno;
    why = errnoText("cannot open " + srcPath, rc);
    return rc;
  }
  struct stat st;
  if (::fstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
    int rc = errno != 0 ? -errno : -EINVAL;
    ::close(src);
    why = "not a regular file: " + srcPath;
    return rc;
  }
  int dst = ::open(dstPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (dst < 0) {
    int rc = -errno;
    ::close(src);
    why = errnoText("cannot create " + dstPath, rc);
    return rc;
  }
  int rc = 0;
  if (::ftruncate(dst, st.st_size) != 0) rc = -errno;
  if (rc == 0) rc = copyRangeSparse(src, static_cast<uint64_t>(st.st_size), dst, 0, static_cast<uint64_t>(st.st_size));
  if (rc == 0) rc = syncFd(dst);
  if (rc != 0) why = errnoText("cannot copy " + srcPath + " to " + dstPath, rc);
  ::close(src);
  ::close(dst);
  if (rc != 0) ::unlink(dstPath.c_str());
  return rc;
}

}  // namespace lanboot::scsi
