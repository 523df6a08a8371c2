#include "scsi/command_trace.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include "scsi/cdb.h"

namespace lanboot::scsi {
namespace {

constexpr size_t kFlushAt = 64 * 1024;  // records are written in batches of about 2,000
constexpr uint64_t kBlockSize = 512;

void putLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
void putLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}

bool writeAll(int fd, const uint8_t* data, size_t length) {
  while (length > 0) {
    ssize_t n = ::write(fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    length -= size_t(n);
  }
  return true;
}

}  // namespace

void encodeTraceRecord(const TraceRecord& r, uint8_t out[kTraceRecordSize]) {
  putLe64(out, r.startNs);
  putLe64(out + 8, r.offset);
  putLe32(out + 16, r.length);
  putLe32(out + 20, r.serviceUs);
  putLe32(out + 24, r.session);
  out[28] = r.op;
  out[29] = r.status;
  out[30] = 0;
  out[31] = 0;
}

CommandTrace::~CommandTrace() { stop(); }

int CommandTrace::start(const std::string& path, std::string* error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) return 0;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int e = errno;
    *error = "cannot open trace " + path + ": " + strerror(e);
    return -e;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *error = "trace " + path + " is not a regular file";
    return -EINVAL;
  }
  if (st.st_size == 0) {
    uint8_t header[kTraceHeaderSize] = {};
    std::memcpy(header, kTraceMagic, sizeof kTraceMagic);
    putLe32(header + 8, kTraceVersion);
    putLe32(header + 12, uint32_t(kTraceRecordSize));
    if (!writeAll(fd, header, sizeof header)) {
      int e = errno ? errno : EIO;
      ::close(fd);
      *error = "cannot write trace header to " + path + ": " + strerror(e);
      return -e;
    }
    fileBytes_ = kTraceHeaderSize;
  } else {
    uint8_t header[kTraceHeaderSize] = {};
    if (::pread(fd, header, sizeof header, 0) != ssize_t(sizeof header) || std::memcmp(header, kTraceMagic, sizeof kTraceMagic) != 0 ||
        (st.st_size - off_t(kTraceHeaderSize)) % off_t(kTraceRecordSize) != 0) {
      ::close(fd);
      *error = "existing file " + path + " is not a lanboot trace";
      return -EINVAL;
    }
    fileBytes_ = uint64_t(st.st_size);
  }
  fd_ = fd;
  buffer_.reserve(kFlushAt + kTraceRecordSize);
  enabled_.store(true, std::memory_order_release);
  return 0;
}

void CommandTrace::stop() {
  enabled_.store(false, std::memory_order_release);
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) return;
  flushLocked();
  ::close(fd_);
  fd_ = -1;
}

void CommandTrace::record(const uint8_t* cdb, size_t cdbLength, uint64_t startNs, uint32_t serviceUs, uint64_t session,
                          uint8_t status) {
  const DecodedCdb decoded = decodeCdb(cdb, cdbLength);
  if (decoded.error != CdbError::kNone) return;
  uint8_t op;
  if (decoded.kind == CdbKind::kRead) {
    op = 0;
  } else if (decoded.kind == CdbKind::kWrite || decoded.kind == CdbKind::kWriteAndVerify) {
    op = 1;
  } else {
    return;
  }
  TraceRecord r;
  r.startNs = startNs;
  r.offset = decoded.lba * kBlockSize;
  r.length = uint32_t(std::min<uint64_t>(uint64_t(decoded.blocks) * kBlockSize, 0xffffffffu));
  r.serviceUs = serviceUs;
  r.session = uint32_t(session);
  r.op = op;
  r.status = status;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0 || fileBytes_ + buffer_.size() + kTraceRecordSize > kTraceMaxBytes) return;
  const size_t at = buffer_.size();
  buffer_.resize(at + kTraceRecordSize);
  encodeTraceRecord(r, buffer_.data() + at);
  if (buffer_.size() >= kFlushAt) flushLocked();
}

void CommandTrace::flushLocked() {
  if (buffer_.empty() || fd_ < 0) return;
  // A failed write loses this batch only; the data path never waits on a retry.
  if (writeAll(fd_, buffer_.data(), buffer_.size())) fileBytes_ += buffer_.size();
  buffer_.clear();
}

}  // namespace lanboot::scsi
