// PduTransport over a connected TCP socket: one write per PDU (writev), and Data-In from
// files with send(MSG_MORE) for the header followed by sendfile(2), so READ data goes from
// the page cache to the socket without a user-space copy.
#pragma once

#include "iscsi/connection.h"

namespace lanboot::iscsi {

class SocketTransport : public PduTransport {
 public:
  explicit SocketTransport(int fd) : fd_(fd) {}
  bool readExact(uint8_t* buffer, size_t length) override;
  bool sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) override;
  bool sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) override;
  void setReadTimeout(int milliseconds) override;

 private:
  bool sendAll(const void* data, size_t length, int flags);
  int fd_;
};

}  // namespace lanboot::iscsi
