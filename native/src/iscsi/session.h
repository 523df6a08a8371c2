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
#include "scsi/task_router.h"

namespace lanboot::scsi {
class CowStore;
}

namespace lanboot::iscsi {

// One more logical unit of a target besides LUN 0 (a seat's data or shared disk): its own
// golden file (may be empty for a blank disk) and delta, its own identity (VPD 0x80/0x83).
struct LunSettings {
  uint32_t lun = 0;  // 1..kMaxLun
  std::string goldenPath;
  std::string deltaDir;
  uint64_t sizeBytes = 0;
  uint64_t quotaBytes = 0;
  std::string serial;
  uint64_t naa = 0;
  bool readOnly = false;
  // Whether a reset of the target (resetDisk, a fresh start) also drops this LUN's delta.
  bool resetWithTarget = true;

  bool sameBacking(const LunSettings& other) const {
    return lun == other.lun && goldenPath == other.goldenPath && deltaDir == other.deltaDir &&
           sizeBytes == other.sizeBytes && readOnly == other.readOnly && serial == other.serial && naa == other.naa;
  }
};

// LUNs of one target: 0 (the system disk) and up to 15 more, single-level peripheral
// addressing (SAM-5 4.7.7), so a LUN number is one byte on the wire.
constexpr uint32_t kMaxLun = 15;

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
  std::vector<LunSettings> extraLuns;  // sorted by lun, no duplicates, no 0

  // Whether `other` can keep serving through the same disk (only ACL/CHAP changed).
  // The same disk: a target reconfigured with the same backing keeps its store and sessions
  // (a new quota is applied to the open store).
  bool sameBacking(const TargetSettings& other) const {
    return goldenPath == other.goldenPath && deltaDir == other.deltaDir && sizeBytes == other.sizeBytes &&
           readOnly == other.readOnly && serial == other.serial && naa == other.naa;
  }

  // LUN 0 only, as one more LunSettings (the factory opens every LUN the same way).
  LunSettings lunZero() const {
    LunSettings zero;
    zero.goldenPath = goldenPath;
    zero.deltaDir = deltaDir;
    zero.sizeBytes = sizeBytes;
    zero.quotaBytes = quotaBytes;
    zero.serial = serial;
    zero.naa = naa;
    zero.readOnly = readOnly;
    return zero;
  }
};

// The disk behind a target: the LUN the transport executes commands on, and the store
// (for reset/flush/deltaBytes; may be null when a test serves a LUN without a store).
struct TargetBacking {
  std::shared_ptr<scsi::Lun> lun;
  std::shared_ptr<scsi::CowStore> store;
};

// A LUN besides 0 with its backing.
struct ExtraLun {
  LunSettings settings;
  TargetBacking backing;
};

struct TargetEntry {
  TargetSettings settings;
  TargetBacking backing;  // LUN 0
  std::vector<ExtraLun> extraLuns;

  // Every LUN's device, for the task router: LUN 0 first, then the others in LUN order.
  scsi::LunTable lunTable() const {
    scsi::LunTable table;
    table.push_back({0, backing.lun.get()});
    for (const auto& extra : extraLuns) table.push_back({extra.settings.lun, extra.backing.lun.get()});
    return table;
  }
  template <typename F>
  void forEachLun(F&& f) const {
    if (backing.lun) f(backing);
    for (const auto& extra : extraLuns) f(extra.backing);
  }
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
