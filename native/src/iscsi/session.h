// One iSCSI session (RFC 7143 4.4: the I_T nexus) and what the engine reports about it.
// With MaxConnections=1 a session has exactly one connection, which owns the sequencing
// state (CmdSN window, StatSN); the session holds identity, target and counters.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iscsi/login.h"
#include "scsi/lun.h"

namespace lanboot::scsi {
class CowStore;
}

namespace lanboot::iscsi {

// Target configuration as given by the supervisor (src/native/index.ts TargetConfig).
struct TargetSettings {
  std::string iqn;
  std::string goldenPath;
  std::string deltaDir;
  uint64_t sizeBytes = 0;
  uint64_t quotaBytes = 0;
  std::vector<std::string> initiators;
  std::optional<ChapSecret> chap;
  std::optional<ChapSecret> mutualChap;
  std::string serial;
  uint64_t naa = 0;
  bool readOnly = false;

  // Whether `other` can keep serving through the same disk (only ACL/CHAP changed).
  // The same disk: a target reconfigured with the same backing keeps its store and sessions
  // (a new quota is applied to the open store).
  bool sameBacking(const TargetSettings& other) const {
    return goldenPath == other.goldenPath && deltaDir == other.deltaDir && sizeBytes == other.sizeBytes &&
           readOnly == other.readOnly && serial == other.serial && naa == other.naa;
  }
};

// The disk behind a target: the LUN the transport executes commands on, and the store
// (for reset/flush/deltaBytes; may be null when a test serves a LUN without a store).
struct TargetBacking {
  std::shared_ptr<scsi::Lun> lun;
  std::shared_ptr<scsi::CowStore> store;
};

struct TargetEntry {
  TargetSettings settings;
  TargetBacking backing;
};

struct SessionCounters {
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> bytesRead{0};
  std::atomic<uint64_t> bytesWritten{0};
  std::atomic<uint64_t> serviceMicroseconds{0};
};

struct Session {
  uint64_t nexusId = 0;  // unique per engine, given to the LUN (unit attentions)
  uint16_t tsih = 0;
  bool discovery = false;
  std::string initiatorName;
  std::string targetName;
  std::array<uint8_t, 6> isid{};
  std::shared_ptr<const TargetEntry> target;  // null for discovery sessions
  SessionParameters parameters;
  std::string remoteAddress;
  uint16_t remotePort = 0;
  int64_t connectedAtMs = 0;
  SessionCounters counters;
};

struct SessionSnapshot {
  std::string targetIqn;
  std::string initiatorIqn;
  std::string isid;  // 12 hex digits
  uint16_t tsih = 0;
  std::string remoteAddress;
  uint16_t remotePort = 0;
  int64_t connectedAtMs = 0;
  uint64_t commands = 0;
  uint64_t bytesRead = 0;
  uint64_t bytesWritten = 0;
  double meanLatencyUs = 0;
};

// Events for the supervisor (src/native/index.ts EngineEvent).
struct EngineEvent {
  enum class Type { kLogin, kLogout, kLoginFailed, kError, kFreshStart };
  Type type = Type::kError;
  std::string targetIqn;
  std::string initiatorIqn;
  std::string isid;
  uint16_t tsih = 0;
  std::string remoteAddress;
  bool discovery = false;
  std::string reason;   // logout / login-failed / fresh-start (what was done)
  bool reset = false;   // fresh-start: whether the delta was reset
  uint32_t endedSessions = 0;  // fresh-start: older sessions ended
  std::string message;  // error
  std::string code;     // error
};

}  // namespace lanboot::iscsi
