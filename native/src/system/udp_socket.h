// A UDP socket bound to one network interface (SO_BINDTODEVICE), which Node's dgram cannot
// create: DHCP must know the interface a broadcast came in on and answer on the same one.
#pragma once

#include <cstdint>
#include <string>

namespace lanboot::system {

// Returns the fd (O_CLOEXEC, SO_REUSEADDR, SO_BROADCAST, IP_PKTINFO, bound to 0.0.0.0:port
// on `interfaceName`), or -errno with `error` set.
int openInterfaceUdpSocket(const std::string& interfaceName, uint16_t port, std::string* error);

}  // namespace lanboot::system
