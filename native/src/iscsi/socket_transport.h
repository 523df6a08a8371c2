// PduTransport over a connected TCP socket: one write per PDU (writev), and Data-In from
// files with send(MSG_MORE) for the header followed by sendfile(2), so READ data goes from
// the page cache to the socket without a user-space copy.
#pragma once

#include <chrono>
#include <vector>

#include "iscsi/connection.h"

namespace lanboot::iscsi {

class SocketTransport : public PduTransport {
 public:
  explicit SocketTransport(int fd) : fd_(fd), buffer_(kReadBufferBytes) {}
  bool readExact(uint8_t* buffer, size_t length) override;
  bool sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) override;
  FileSend sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) override;
  void setReadTimeout(int milliseconds) override;

 private:
  bool sendAll(const void* data, size_t length, int flags);
  // Sets SO_RCVTIMEO to the time left before the read deadline; false once it has passed.
  bool armReadDeadline();
  // Pipelined initiators (Linux, queue depth 32) send many small PDUs back to back: reading
  // through a buffer turns one recv(2) per header into one per burst.
  static constexpr size_t kReadBufferBytes = 64 * 1024;
  int fd_;
  std::vector<uint8_t> buffer_;
  size_t bufferStart_ = 0;
  size_t bufferEnd_ = 0;
  bool hasDeadline_ = false;
  std::chrono::steady_clock::time_point deadline_{};
};

}  // namespace lanboot::iscsi
