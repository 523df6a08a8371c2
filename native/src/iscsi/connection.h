// One iSCSI connection: login, then the full feature phase (RFC 7143 sections 4-11) for a
// single-connection session. It reads PDUs from a PduTransport and never touches a socket
// itself, so tests and the fuzzer can drive it with bytes in memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "iscsi/login.h"
#include "iscsi/pdu.h"
#include "iscsi/session.h"
#include "scsi/command_trace.h"
#include "scsi/lun.h"
#include "scsi/task_router.h"

namespace lanboot::iscsi {

// Byte transport for one connection. Implementations: SocketTransport (connection.cc),
// a memory transport in the fuzzer and tests.
class PduTransport {
 public:
  virtual ~PduTransport() = default;
  // Reads exactly `length` bytes; false on EOF or error.
  virtual bool readExact(uint8_t* buffer, size_t length) = 0;
  // Sends BHS + data segment + padding, as one write where possible.
  virtual bool sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) = 0;
  // Sends BHS + the file pieces (fd < 0 = zeros) + padding; zero-copy where possible.
  // kFileFailed: a piece could not be read (EIO from the disk, or the file ended before the
  // piece did). Part of the PDU may be on the wire already, so the connection must end; the
  // caller tells the LUN, which then reads through memory and can answer with sense data.
  enum class FileSend { kSent, kConnectionFailed, kFileFailed };
  virtual FileSend sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) = 0;
  // A deadline for all reads from now on (the whole login phase); 0 = no limit.
  virtual void setReadTimeout(int milliseconds) {}
};

// What a connection needs from the engine that owns it.
class ConnectionHost : public LoginDirectory {
 public:
  // Login finished: create (or reinstate, RFC 7143 6.3.5) the session. Returns null and
  // sets `reason` when it cannot be created. Fills the session's TSIH.
  virtual std::shared_ptr<Session> createSession(const LoginNegotiator& login, uint64_t connectionToken,
                                                 std::string* reason) = 0;
  // Targets this initiator may see in SendTargets (11.10, 13.3): the ACL applies.
  virtual std::vector<std::string> visibleTargets(const std::string& initiatorName) = 0;
  // Target cold reset: every session of the target ends (11.5.1).
  virtual void dropTargetSessions(const std::string& targetIqn, uint64_t exceptConnectionToken,
                                  const std::string& reason) = 0;
  virtual void emit(const EngineEvent& event) = 0;
  // The target's command trace switch (kept while the target exists), or null.
  virtual std::shared_ptr<scsi::CommandTrace> commandTrace(const std::string& targetIqn) { return nullptr; }
};

struct ConnectionInfo {
  uint64_t token = 0;            // engine's id of this connection
  std::string remoteAddress;
  uint16_t remotePort = 0;
  std::string portalAddress;     // "192.0.2.1:3260" as SendTargets reports it (getsockname)
  TargetLimits limits;
  uint32_t commandWindow = 64;   // MaxCmdSN - ExpCmdSN + 1 (4.2.2.1)
  uint32_t maxWriteBuffer = 32u << 20;  // largest write we buffer for one command
  int loginTimeoutMs = 30000;
};

class Connection {
 public:
  Connection(ConnectionHost& host, PduTransport& transport, ConnectionInfo info);
  // Runs login and the full feature phase until the peer leaves, a protocol error closes the
  // connection, or the transport fails. Returns why it ended.
  std::string run();

  const std::shared_ptr<Session>& session() const { return session_; }

 private:
  struct Pdu {
    InitiatorHeader header;
    Bhs rawHeader{};
    AdditionalHeaders ahs;
    std::vector<uint8_t> data;
  };
  enum class ReadResult { kOk, kClosed, kProtocolError };

  // A write command waiting for its Data-Out (11.7, 11.8).
  struct WriteTask {
    InitiatorHeader command;
    std::vector<uint8_t> cdb;
    uint64_t lun = 0;
    std::vector<uint8_t> buffer;  // EDTL bytes
    uint32_t received = 0;        // contiguous bytes received from offset 0
    bool unsolicitedOpen = false; // unsolicited Data-Out may still arrive (F bit not yet seen)
    uint32_t unsolicitedLimit = 0;
    uint32_t nextDataSn = 0;
    // Outstanding R2T (MaxOutstandingR2T is 1).
    bool r2tOpen = false;
    uint32_t r2tTag = kReservedTag;
    uint32_t r2tOffset = 0;
    uint32_t r2tLength = 0;
    uint32_t nextR2tSn = 0;
    std::chrono::steady_clock::time_point started;
  };

  ReadResult readPdu(Pdu& pdu, uint32_t maxDataSegment);
  bool login();
  bool fullFeaturePhase();

  SequenceNumbers nextStatus();     // takes a StatSN for a response that carries status
  SequenceNumbers currentNumbers() const;
  bool acceptCommandNumber(const InitiatorHeader& header);
  bool sendReject(uint8_t reason, const Bhs& rejected);

  bool handleNopOut(const Pdu& pdu);
  bool handleScsiCommand(Pdu& pdu);
  bool handleDataOut(Pdu& pdu);
  bool handleTaskManagement(const Pdu& pdu);
  bool handleText(const Pdu& pdu);
  bool handleLogout(const Pdu& pdu, bool* closeAfter);

  bool executeAndRespond(const InitiatorHeader& command, const uint8_t* cdb, size_t cdbLength, uint64_t lun,
                         const uint8_t* dataOut, size_t dataOutLength,
                         std::chrono::steady_clock::time_point started);
  bool sendCommandResult(const InitiatorHeader& command, const scsi::CommandResult& result, uint64_t cdbDataOut);
  bool sendRefusal(const InitiatorHeader& command, scsi::Refusal why);
  bool sendNextR2t(WriteTask& task);
  scsi::Lun* findLun(uint64_t lun) const;
  bool sendTextChunk();

  ConnectionHost& host_;
  PduTransport& transport_;
  ConnectionInfo info_;
  std::shared_ptr<Session> session_;
  SessionParameters parameters_;
  std::shared_ptr<scsi::Lun> lun_;  // LUN 0
  scsi::LunTable luns_;  // every LUN of session_->target, which keeps them alive
  std::shared_ptr<scsi::CommandTrace> trace_;

  uint16_t connectionId_ = 0;
  uint32_t statSn_ = 0;
  uint32_t expCmdSn_ = 0;
  std::map<uint32_t, WriteTask> writeTasks_;  // by ITT
  uint32_t nextTargetTransferTag_ = 1;
  uint64_t bufferedWriteBytes_ = 0;
  std::string endReason_ = "connection closed";

  // Text Response continuation (11.11: C bit, target transfer tag).
  std::vector<uint8_t> textPending_;
  size_t textSent_ = 0;
  uint32_t textTag_ = kReservedTag;
  InitiatorHeader textRequest_;
  std::vector<uint8_t> textRequestBuffer_;
};

}  // namespace lanboot::iscsi
