#include "system/udp_socket.h"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lanboot::system {

int openInterfaceUdpSocket(const std::string& interfaceName, uint16_t port, std::string* error) {
  if (interfaceName.empty() || interfaceName.size() >= IFNAMSIZ) {
    *error = "invalid interface name '" + interfaceName + "'";
    return -EINVAL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    *error = std::string("socket: ") + strerror(e);
    return -e;
  }
  auto failWith = [&](const char* what) {
    int e = errno;
    *error = std::string(what) + " on " + interfaceName + ": " + strerror(e);
    ::close(fd);
    return -e;
  };
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return failWith("SO_REUSEADDR");
  if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0) return failWith("SO_BROADCAST");
  // Optional: tells which local address a datagram was sent to (not fatal when unsupported).
  setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interfaceName.c_str(), socklen_t(interfaceName.size() + 1)) != 0) {
    return failWith("SO_BINDTODEVICE");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return failWith("bind");
  return fd;
}

}  // namespace lanboot::system
