#include "system/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace lanboot::system {

NotifyResult sendNotify(const std::string& socketPath, const std::string& state, std::string* error) {
  if (socketPath.empty()) return NotifyResult::kNoSocket;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socketPath.size() >= sizeof address.sun_path || (socketPath[0] != '/' && socketPath[0] != '@')) {
    *error = "NOTIFY_SOCKET is not an absolute path or abstract name";
    return NotifyResult::kFailed;
  }
  std::memcpy(address.sun_path, socketPath.data(), socketPath.size());
  socklen_t length = socklen_t(offsetof(sockaddr_un, sun_path) + socketPath.size());
  if (socketPath[0] == '@') {
    address.sun_path[0] = '\0';  // abstract namespace: no terminating NUL counted
  } else {
    length += 1;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return NotifyResult::kFailed;
  }
  ssize_t sent;
  do {
    sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), length);
  } while (sent < 0 && errno == EINTR);
  int sendError = errno;
  ::close(fd);
  if (sent < 0) {
    *error = "sendto " + socketPath + ": " + strerror(sendError);
    return NotifyResult::kFailed;
  }
  return NotifyResult::kSent;
}

}  // namespace lanboot::system
