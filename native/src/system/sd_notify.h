// sd_notify(3) without libsystemd: one datagram to the AF_UNIX socket in $NOTIFY_SOCKET
// (a leading '@' names a Linux abstract socket).
#pragma once

#include <string>

namespace lanboot::system {

enum class NotifyResult { kSent, kNoSocket, kFailed };

// `socketPath` is the value of NOTIFY_SOCKET (empty = unset).
NotifyResult sendNotify(const std::string& socketPath, const std::string& state, std::string* error);

}  // namespace lanboot::system
