// SocketTransport (native/src/iscsi/socket_transport.*) over a real AF_UNIX stream socketpair:
// buffered reads across PDU boundaries and split writes, one-write PDUs with padding, and the
// zero-copy Data-In path (send(MSG_MORE) + sendfile from a memfd, zeros for fd < 0 extents).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "iscsi/socket_transport.h"
#include "check.h"


using namespace lanboot;
using namespace lanboot::iscsi;

static std::vector<uint8_t> readAll(int fd, size_t length) {
  std::vector<uint8_t> out(length);
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(fd, out.data() + done, length - done);
    if (got <= 0) break;
    done += size_t(got);
  }
  out.resize(done);
  return out;
}

static void testBufferedReads() {
  int fds[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  SocketTransport transport(fds[0]);
  // Three "PDUs" of 48 + 100 bytes written in odd-sized pieces from another thread.
  std::vector<uint8_t> stream(3 * 148 + 200000);
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = uint8_t(i * 31 + 7);
  std::thread writer([&] {
    size_t position = 0, piece = 1;
    while (position < stream.size()) {
      size_t n = std::min(piece, stream.size() - position);
      CHECK(write(fds[1], stream.data() + position, n) == ssize_t(n));
      position += n;
      piece = piece * 3 + 1;
    }
  });
  std::vector<uint8_t> got;
  for (int i = 0; i < 3; ++i) {
    uint8_t header[48], data[100];
    CHECK(transport.readExact(header, 48));
    CHECK(transport.readExact(data, 100));
    got.insert(got.end(), header, header + 48);
    got.insert(got.end(), data, data + 100);
  }
  std::vector<uint8_t> large(200000);  // larger than half the buffer: read straight through
  CHECK(transport.readExact(large.data(), large.size()));
  got.insert(got.end(), large.begin(), large.end());
  writer.join();
  CHECK(got == stream);
  close(fds[1]);
  uint8_t extra;
  CHECK(!transport.readExact(&extra, 1));  // EOF
  close(fds[0]);
}

static void testSends() {
  int fds[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  SocketTransport transport(fds[0]);
  Bhs bhs{};
  for (size_t i = 0; i < bhs.size(); ++i) bhs[i] = uint8_t(i);
  // Memory data of 5 bytes: BHS + data + 3 bytes of zero padding (RFC 7143 11.2.3).
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  CHECK(transport.sendPdu(bhs, data, 5));
  auto wire = readAll(fds[1], 48 + 8);
  CHECK(wire.size() == 56 && std::memcmp(wire.data(), bhs.data(), 48) == 0);
  CHECK(std::memcmp(wire.data() + 48, data, 5) == 0 && wire[53] == 0 && wire[54] == 0 && wire[55] == 0);
  // Header only.
  CHECK(transport.sendPdu(bhs, nullptr, 0));
  CHECK(readAll(fds[1], 48).size() == 48);

  // File extents: 4096 bytes of a memfd at offset 100, a 1000-byte hole (fd < 0 = zeros),
  // then 3 bytes of the file: total 5099, padded to 5100.
  int file = memfd_create("transport-test", MFD_CLOEXEC);
  std::vector<uint8_t> content(8192);
  for (size_t i = 0; i < content.size(); ++i) content[i] = uint8_t(i * 13 + 1);
  CHECK(write(file, content.data(), content.size()) == ssize_t(content.size()));
  std::vector<scsi::FileExtent> pieces = {{file, 100, 4096}, {-1, 0, 1000}, {file, 8000, 3}};
  std::thread sender([&] { CHECK(transport.sendPduFromFiles(bhs, pieces) == PduTransport::FileSend::kSent); });
  auto out = readAll(fds[1], 48 + 5100);
  sender.join();
  CHECK(out.size() == 5148);
  CHECK(std::memcmp(out.data() + 48, content.data() + 100, 4096) == 0);
  bool zeros = true;
  for (size_t i = 0; i < 1000; ++i) zeros = zeros && out[48 + 4096 + i] == 0;
  CHECK(zeros);
  CHECK(std::memcmp(out.data() + 48 + 5096, content.data() + 8000, 3) == 0);
  CHECK(out[48 + 5099] == 0);
  // An extent past the end of the file (cut under the store) is a file fault, never zeros:
  // the header and the bytes the file still had go out, then the caller must end the
  // connection.
  std::vector<scsi::FileExtent> beyond = {{file, 8190, 10}};
  PduTransport::FileSend cut = PduTransport::FileSend::kSent;
  std::thread sender2([&] { cut = transport.sendPduFromFiles(bhs, beyond); });
  auto out2 = readAll(fds[1], 48 + 2);
  sender2.join();
  CHECK(cut == PduTransport::FileSend::kFileFailed);
  CHECK(out2.size() == 50 && out2[48] == content[8190] && out2[49] == content[8191]);
  // A descriptor sendfile cannot read from (a directory: EISDIR/EINVAL) is the file's fault
  // too, not the connection's.
  int directory = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<scsi::FileExtent> unreadable = {{directory, 0, 512}};
  PduTransport::FileSend failed = PduTransport::FileSend::kSent;
  std::thread sender3([&] { failed = transport.sendPduFromFiles(bhs, unreadable); });
  auto out3 = readAll(fds[1], 48);
  sender3.join();
  CHECK(failed == PduTransport::FileSend::kFileFailed);
  CHECK(out3.size() == 48);
  close(directory);
  close(file);
  close(fds[1]);
  // The peer is gone: sends fail instead of raising SIGPIPE.
  CHECK(!transport.sendPdu(bhs, data, 5));
  close(fds[0]);
}

int main() {
  testBufferedReads();
  testSends();
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
