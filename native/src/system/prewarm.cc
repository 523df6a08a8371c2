#include "system/prewarm.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lanboot::system {

int prewarmRanges(const std::string& path, const std::vector<ByteRange>& ranges, uint64_t maxBytes,
                  const std::function<bool()>& cancelled, uint64_t* bytesRead, std::string* error) {
  constexpr uint64_t kChunk = 1 << 20;
  *bytesRead = 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    *error = "cannot open " + path + ": " + strerror(e);
    return -e;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    *error = "cannot stat " + path + ": " + strerror(e);
    return -e;
  }
  const uint64_t size = uint64_t(st.st_size);
  std::vector<uint8_t> scratch(kChunk);
  int rc = 0;
  for (const ByteRange& range : ranges) {
    if (range.offset >= size) continue;
    uint64_t offset = range.offset;
    const uint64_t end = std::min(size, range.offset + std::min(range.length, size - range.offset));
    while (offset < end && *bytesRead < maxBytes) {
      if (cancelled && cancelled()) {
        rc = -ECANCELED;
        *error = "prewarm of " + path + " cancelled";
        break;
      }
      const size_t want = size_t(std::min({kChunk, end - offset, maxBytes - *bytesRead}));
      ssize_t n = ::pread(fd, scratch.data(), want, off_t(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        rc = -errno;
        *error = "read of " + path + " failed: " + strerror(errno);
        break;
      }
      if (n == 0) break;  // the file shrank: nothing more to warm here
      offset += uint64_t(n);
      *bytesRead += uint64_t(n);
    }
    if (rc != 0 || *bytesRead >= maxBytes) break;
  }
  ::close(fd);
  return rc;
}

}  // namespace lanboot::system
