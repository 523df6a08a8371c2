// The iSCSI target engine: listening socket, accept thread, one thread per connection,
// the target registry (ACL, CHAP, backing disk) and the session table (TSIH, reinstatement).
// Plain C++: the Node-API glue (native/src/napi) wraps it; tests use it directly.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "iscsi/connection.h"
#include "iscsi/session.h"

namespace lanboot::iscsi {

// Opens the disk for a target (CowStore + disk LUN in production; a RAM LUN in tests).
// Returns a backing with a null lun and sets `error` on failure.
using BackingFactory = std::function<TargetBacking(const TargetSettings& settings, std::string* error)>;
using EventSink = std::function<void(const EngineEvent& event)>;

struct EngineOptions {
  TargetLimits limits;
  uint32_t commandWindow = 64;
  uint32_t maxWriteBuffer = 32u << 20;
  int loginTimeoutMs = 30000;
  size_t maxConnections = 1024;
  int dropTimeoutMs = 10000;  // how long resetDisk/removeTarget wait for sessions to end
};

class Engine : public ConnectionHost {
 public:
  Engine(BackingFactory factory, EventSink sink, EngineOptions options = {});
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Binds host:port (port 0 = any) and starts accepting. Returns the bound port, or -errno
  // with `error` set.
  int listen(const std::string& host, uint16_t port, std::string* error);

  bool setTarget(const TargetSettings& settings, std::string* error);
  bool removeTarget(const std::string& iqn);
  // Drops the target's sessions (waiting for them to end), then resets its store.
  bool resetDisk(const std::string& iqn, std::string* error);
  // Arms a fresh start: the next session that logs in to `iqn` begins a new boot of the
  // seat, so its delta is reset just before that session is admitted (and the older
  // sessions, left by the boot before, are ended). With CHAP, only the holder of the secret
  // handed out with the boot script can log in, so nobody else can trigger it; without CHAP
  // the reset is skipped while another session is still logged in. A login consumes the arm.
  bool armFreshStart(const std::string& iqn, std::string* error);
  // Cancels an armed fresh start (the seat left fresh mode, or was reset another way).
  void disarmFreshStart(const std::string& iqn);
  bool freshStartArmed(const std::string& iqn);
  // Bytes the target's delta uses; -1 if unknown target or no store.
  int64_t deltaBytes(const std::string& iqn);
  // Reads [offset, offset+length) of the target's disk as an initiator would see it (golden
  // under the delta). 0, -ENOENT for an unknown target or one without a store, or the
  // store's -errno.
  int readDisk(const std::string& iqn, uint64_t offset, uint64_t length, uint8_t* out);
  std::vector<SessionSnapshot> sessions();
  // Starts appending the target's READ/WRITE commands to `path` (scsi/command_trace.h), or
  // stops when `path` is empty. False with `error` set for an unknown target or a file that
  // cannot be opened. Removing the target stops its trace.
  bool setCommandTrace(const std::string& iqn, const std::string& path, std::string* error);
  bool commandTraceOn(const std::string& iqn);
  // Stops accepting, ends every connection, flushes every store. Idempotent.
  void close();

  // ConnectionHost
  std::optional<LoginTargetInfo> findTarget(const std::string& targetName,
                                            const std::string& initiatorName) override;
  std::shared_ptr<Session> createSession(const LoginNegotiator& login, uint64_t connectionToken,
                                         std::string* reason) override;
  std::vector<std::string> visibleTargets(const std::string& initiatorName) override;
  void dropTargetSessions(const std::string& targetIqn, uint64_t exceptConnectionToken,
                          const std::string& reason) override;
  void emit(const EngineEvent& event) override;
  std::shared_ptr<scsi::CommandTrace> commandTrace(const std::string& targetIqn) override;

 private:
  struct ConnectionSlot {
    uint64_t token = 0;
    int fd = -1;
    std::string remoteAddress;
    uint16_t remotePort = 0;
    std::thread thread;
    std::shared_ptr<Session> session;
    std::string stopReason;  // set when the engine ends the connection
    bool finished = false;
  };

  void acceptLoop();
  void serveConnection(std::shared_ptr<ConnectionSlot> slot, std::string remoteAddress, uint16_t remotePort,
                       std::string portalAddress);
  // Ends the connections matching `match` and waits (bounded) until their threads are done.
  void dropConnections(const std::function<bool(const ConnectionSlot&)>& match, const std::string& reason);
  void reapFinished();
  std::shared_ptr<const TargetEntry> lookup(const std::string& iqn);
  // Runs an armed fresh start for a login on `connectionToken`. Returns false (with `reason`)
  // when the delta could not be reset: the login is refused and the arm kept.
  bool runFreshStart(const TargetEntry& target, const LoginNegotiator& login, uint64_t connectionToken,
                     const std::string& remoteAddress, std::string* reason);

  // Drops the delta of LUN 0 and of every LUN reset with the target; 0 or -errno.
  static int resetStores(const TargetEntry& target);
  BackingFactory factory_;
  EventSink sink_;
  EngineOptions options_;

  std::shared_mutex registryMutex_;
  std::map<std::string, std::shared_ptr<const TargetEntry>> targets_;

  std::mutex stateMutex_;
  std::condition_variable stateChanged_;
  std::map<uint64_t, std::shared_ptr<ConnectionSlot>> connections_;
  std::map<std::string, int> resetting_;  // targets inside resetDisk: no new sessions
  std::set<std::string> freshStartArmed_;  // targets whose next login starts a new boot
  std::vector<std::shared_ptr<ConnectionSlot>> finished_;
  uint64_t nextToken_ = 1;
  uint64_t nextNexusId_ = 1;
  uint16_t nextTsih_ = 1;
  bool closing_ = false;
  bool closed_ = false;

  std::mutex traceMutex_;
  std::map<std::string, std::shared_ptr<scsi::CommandTrace>> traces_;  // created on first use
  void stopCommandTrace(const std::string& iqn);

  int listenFd_ = -1;
  int wakeFd_ = -1;  // eventfd that interrupts the accept loop's poll
  uint16_t listenPort_ = 0;
  std::thread acceptThread_;
};

std::string isidHex(const std::array<uint8_t, 6>& isid);

}  // namespace lanboot::iscsi
