#include "iscsi/socket_transport.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lanboot::iscsi {
namespace {
// Source for zero-filled Data-In (holes, fd < 0 extents) and padding.
alignas(4096) const uint8_t kZeroPage[65536] = {};
}  // namespace

bool SocketTransport::readExact(uint8_t* destination, size_t length) {
  // Buffered bytes first.
  size_t buffered = bufferEnd_ - bufferStart_;
  size_t take = std::min(buffered, length);
  if (take > 0) {
    std::memcpy(destination, buffer_.data() + bufferStart_, take);
    bufferStart_ += take;
    destination += take;
    length -= take;
  }
  if (bufferStart_ == bufferEnd_) bufferStart_ = bufferEnd_ = 0;
  while (length > 0) {
    if (!armReadDeadline()) return false;
    ssize_t got;
    if (length >= buffer_.size() / 2) {
      // Large data segments go straight to their destination, without a copy.
      got = recv(fd_, destination, length, 0);
      if (got > 0) {
        destination += got;
        length -= size_t(got);
        continue;
      }
    } else {
      got = recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (got > 0) {
        size_t use = std::min(size_t(got), length);
        std::memcpy(destination, buffer_.data(), use);
        destination += use;
        length -= use;
        bufferStart_ = use;
        bufferEnd_ = size_t(got);
        continue;
      }
    }
    if (got < 0 && errno == EINTR) continue;
    return false;  // EOF, timeout (EAGAIN) or error
  }
  return true;
}

void SocketTransport::setReadTimeout(int milliseconds) {
  // A deadline for every read from now on, not a per-read limit: a peer that trickles one byte
  // before each timeout (slowloris) must not hold a login slot and a thread forever.
  hasDeadline_ = milliseconds > 0;
  if (hasDeadline_) {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
  } else {
    timeval none{0, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  }
}

bool SocketTransport::armReadDeadline() {
  if (!hasDeadline_) return true;
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  timeval tv{time_t(left.count() / 1000000), suseconds_t(left.count() % 1000000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return true;
}

bool SocketTransport::sendAll(const void* data, size_t length, int flags) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (length > 0) {
    ssize_t sent = send(fd_, p, length, flags | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += sent;
    length -= size_t(sent);
  }
  return true;
}

bool SocketTransport::sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) {
  const uint32_t padding = paddingFor(uint32_t(length));
  iovec parts[3] = {{const_cast<uint8_t*>(bhs.data()), bhs.size()},
                    {const_cast<uint8_t*>(data), length},
                    {const_cast<uint8_t*>(kZeroPage), padding}};
  int count = length > 0 ? (padding > 0 ? 3 : 2) : 1;
  iovec* iov = parts;
  while (count > 0) {
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = size_t(count);
    ssize_t sent = sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = size_t(sent);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

namespace {
// sendfile(2) errors that come from the socket side; any other one (EIO above all) is the
// file's: the disk could not be read.
bool socketSideError(int error) {
  return error == EPIPE || error == ECONNRESET || error == ENOTCONN || error == EAGAIN || error == EWOULDBLOCK ||
         error == ETIMEDOUT || error == EHOSTUNREACH || error == ENETUNREACH || error == ENETDOWN;
}
}  // namespace

PduTransport::FileSend SocketTransport::sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) {
  uint64_t total = 0;
  for (const auto& piece : pieces) total += piece.length;
  const uint32_t padding = paddingFor(uint32_t(total));
  // MSG_MORE keeps the header in the same TCP segment as the data that follows.
  if (!sendAll(bhs.data(), bhs.size(), total > 0 ? MSG_MORE : 0)) return FileSend::kConnectionFailed;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const bool lastPiece = i + 1 == pieces.size() && padding == 0;
    const scsi::FileExtent& piece = pieces[i];
    uint64_t remaining = piece.length;
    off_t offset = off_t(piece.offset);
    while (remaining > 0 && piece.fd >= 0) {
      ssize_t sent = sendfile(fd_, piece.fd, &offset, size_t(remaining));
      if (sent < 0) {
        if (errno == EINTR) continue;
        return socketSideError(errno) ? FileSend::kConnectionFailed : FileSend::kFileFailed;
      }
      // The file ended before the extent: the store sized the extent from the file, so the
      // file was cut under us. Zeros in its place would be silent corruption.
      if (sent == 0) return FileSend::kFileFailed;
      remaining -= uint64_t(sent);
    }
    while (remaining > 0) {
      size_t chunk = size_t(std::min<uint64_t>(remaining, sizeof kZeroPage));
      if (!sendAll(kZeroPage, chunk, (lastPiece && chunk == remaining) ? 0 : MSG_MORE)) return FileSend::kConnectionFailed;
      remaining -= chunk;
    }
  }
  if (padding > 0 && !sendAll(kZeroPage, padding, 0)) return FileSend::kConnectionFailed;
  return FileSend::kSent;
}

}  // namespace lanboot::iscsi
