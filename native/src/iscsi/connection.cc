#include "iscsi/connection.h"

#include <algorithm>
#include <cstring>

#include "common/byte_order.h"
#include "common/random.h"
#include "scsi/cdb.h"
#include "scsi/task_router.h"

namespace lanboot::iscsi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kLoginMaxDataSegment = 8192;  // 13.12: default MaxRecvDataSegmentLength during login

EngineEvent loginFailedEvent(const std::string& target, const std::string& initiator, const std::string& remote,
                             bool discovery, const std::string& reason) {
  EngineEvent event;
  event.type = EngineEvent::Type::kLoginFailed;
  event.targetIqn = target;
  event.initiatorIqn = initiator;
  event.remoteAddress = remote;
  event.discovery = discovery;
  event.reason = reason;
  return event;
}

}  // namespace

Connection::Connection(ConnectionHost& host, PduTransport& transport, ConnectionInfo info)
    : host_(host), transport_(transport), info_(std::move(info)) {}

std::string Connection::run() {
  transport_.setReadTimeout(info_.loginTimeoutMs);
  if (!login()) return endReason_;
  transport_.setReadTimeout(0);
  fullFeaturePhase();
  return endReason_;
}

Connection::ReadResult Connection::readPdu(Pdu& pdu, uint32_t maxDataSegment) {
  if (!transport_.readExact(pdu.rawHeader.data(), kBhsLength)) return ReadResult::kClosed;
  PduError error = parseInitiatorHeader(pdu.rawHeader.data(), &pdu.header);
  // Lengths are at fixed offsets for every opcode, so even a PDU we reject can be skipped.
  const uint32_t ahsBytes = uint32_t(pdu.rawHeader[4]) * 4;
  const uint32_t dataLength = common::loadBe24(pdu.rawHeader.data() + 5);
  if (dataLength > maxDataSegment) {
    // 13.12: the initiator must not exceed our MaxRecvDataSegmentLength: protocol error.
    sendReject(kRejectProtocolError, pdu.rawHeader);
    endReason_ = "data segment longer than negotiated";
    return ReadResult::kProtocolError;
  }
  std::vector<uint8_t> ahs(ahsBytes);
  if (ahsBytes > 0 && !transport_.readExact(ahs.data(), ahsBytes)) return ReadResult::kClosed;
  pdu.data.resize(dataLength + paddingFor(dataLength));
  if (!pdu.data.empty() && !transport_.readExact(pdu.data.data(), pdu.data.size())) return ReadResult::kClosed;
  pdu.data.resize(dataLength);
  pdu.ahs = AdditionalHeaders{};
  if (error == PduError::kNone && ahsBytes > 0) error = parseAdditionalHeaders(ahs.data(), ahs.size(), &pdu.ahs);
  if (error != PduError::kNone) {
    // 11.17.1: unknown opcodes are "command not supported"; malformed fields "invalid PDU field".
    const uint8_t reason = error == PduError::kUnknownOpcode ? kRejectCommandNotSupported : kRejectInvalidPduField;
    if (session_) {
      if (!sendReject(reason, pdu.rawHeader)) return ReadResult::kClosed;
      return ReadResult::kProtocolError;  // caller continues with the next PDU
    }
    endReason_ = std::string("malformed PDU during login: ") + pduErrorName(error);
    return ReadResult::kClosed;
  }
  return ReadResult::kOk;
}

SequenceNumbers Connection::currentNumbers() const {
  return SequenceNumbers{statSn_, expCmdSn_, expCmdSn_ + info_.commandWindow - 1};
}

SequenceNumbers Connection::nextStatus() {
  SequenceNumbers sn = currentNumbers();
  ++statSn_;
  return sn;
}

bool Connection::sendReject(uint8_t reason, const Bhs& rejected) {
  Bhs bhs = buildReject(reason, nextStatus());
  return transport_.sendPdu(bhs, rejected.data(), rejected.size());
}

bool Connection::login() {
  LoginNegotiator negotiator(host_, info_.limits, common::fillRandom);
  bool first = true;
  while (true) {
    Pdu pdu;
    ReadResult read = readPdu(pdu, kLoginMaxDataSegment);
    if (read != ReadResult::kOk) {
      if (endReason_ == "connection closed") endReason_ = "connection closed during login";
      return false;
    }
    if (pdu.header.opcode != Opcode::kLoginRequest) {
      // 6.3: only Login Requests before the full feature phase; anything else ends the login.
      endReason_ = std::string("unexpected ") + opcodeName(uint8_t(pdu.header.opcode)) + " during login";
      host_.emit(loginFailedEvent("", "", info_.remoteAddress, false, endReason_));
      return false;
    }
    if (first) {
      // The target picks its initial StatSN (11.13.4); we continue from what the initiator expects.
      statSn_ = pdu.header.expStatSn;
      first = false;
    }
    expCmdSn_ = pdu.header.cmdSn;  // Login Requests are immediate: CmdSN is not consumed (11.12.6)
    LoginNegotiator::Step step = negotiator.handle(pdu.header, pdu.data.data(), pdu.data.size());
    if (step.outcome == LoginNegotiator::Outcome::kFullFeature) {
      std::string reason;
      session_ = host_.createSession(negotiator, info_.token, &reason);
      if (!session_) {
        step.outcome = LoginNegotiator::Outcome::kFailed;
        step.failureReason = reason;
        step.response.transit = false;
        step.response.statusClass = login_status::kOutOfResources.statusClass;
        step.response.statusDetail = login_status::kOutOfResources.statusDetail;
        step.data.clear();
        step.response.dataSegmentLength = 0;
      } else {
        step.response.tsih = session_->tsih;
      }
    }
    Bhs bhs = buildLoginResponse(step.response, nextStatus());
    if (!transport_.sendPdu(bhs, step.data.data(), step.data.size())) {
      endReason_ = "send failed during login";
      return false;
    }
    if (step.outcome == LoginNegotiator::Outcome::kFailed) {
      endReason_ = "login failed: " + step.failureReason;
      host_.emit(loginFailedEvent(negotiator.targetName(), negotiator.initiatorName(), info_.remoteAddress,
                                  negotiator.discovery(), step.failureReason));
      return false;
    }
    if (step.outcome == LoginNegotiator::Outcome::kFullFeature) {
      parameters_ = negotiator.parameters();
      connectionId_ = negotiator.connectionId();
      if (session_->target) {
        lun_ = session_->target->backing.lun;
        luns_ = session_->target->lunTable();
        trace_ = host_.commandTrace(session_->targetName);
      }
      return true;
    }
  }
}

scsi::Lun* Connection::findLun(uint64_t lun) const {
  for (const auto& entry : luns_) {
    if (entry.lun == lun) return entry.device;
  }
  return nullptr;
}

bool Connection::fullFeaturePhase() {
  while (true) {
    Pdu pdu;
    ReadResult read = readPdu(pdu, parameters_.targetMaxRecvDataSegmentLength);
    if (read == ReadResult::kClosed) return false;
    if (read == ReadResult::kProtocolError) {
      if (endReason_ != "connection closed") return false;  // fatal (set by readPdu)
      continue;                                             // rejected, connection stays
    }
    bool ok = true;
    bool closeAfter = false;
    if (session_->discovery && pdu.header.opcode != Opcode::kTextRequest &&
        pdu.header.opcode != Opcode::kLogoutRequest && pdu.header.opcode != Opcode::kNopOut) {
      // 4.3 / 11.17.1: a discovery session carries only Text, Logout and NOP.
      if (!sendReject(kRejectProtocolError, pdu.rawHeader)) {
        endReason_ = "send failed";
        return false;
      }
      continue;
    }
    switch (pdu.header.opcode) {
      case Opcode::kNopOut: ok = handleNopOut(pdu); break;
      case Opcode::kScsiCommand: ok = handleScsiCommand(pdu); break;
      case Opcode::kDataOut: ok = handleDataOut(pdu); break;
      case Opcode::kTaskManagementRequest: ok = handleTaskManagement(pdu); break;
      case Opcode::kTextRequest: ok = handleText(pdu); break;
      case Opcode::kLogoutRequest: ok = handleLogout(pdu, &closeAfter); break;
      case Opcode::kSnackRequest:
        // 7.x: SNACK needs ErrorRecoveryLevel > 0; at ERL 0 it is a protocol error.
        ok = sendReject(kRejectProtocolError, pdu.rawHeader);
        break;
      case Opcode::kLoginRequest:
        // 11.12: a Login Request in the full feature phase is a protocol error.
        ok = sendReject(kRejectProtocolError, pdu.rawHeader);
        break;
      default:
        ok = sendReject(kRejectCommandNotSupported, pdu.rawHeader);
        break;
    }
    if (!ok) {
      if (endReason_ == "connection closed") endReason_ = "send failed";
      return false;
    }
    if (closeAfter) return true;
  }
}

bool Connection::acceptCommandNumber(const InitiatorHeader& header) {
  // 4.2.2.1: immediate commands carry CmdSN but do not advance it; non-immediate commands
  // outside [ExpCmdSN, MaxCmdSN] and duplicates are silently ignored.
  if (header.immediate) return true;
  const uint32_t maxCmdSn = expCmdSn_ + info_.commandWindow - 1;
  if (serialLess(header.cmdSn, expCmdSn_) || serialLess(maxCmdSn, header.cmdSn)) return false;
  expCmdSn_ = header.cmdSn + 1;
  return true;
}

bool Connection::handleNopOut(const Pdu& pdu) {
  const InitiatorHeader& h = pdu.header;
  if (h.initiatorTaskTag == kReservedTag) return true;  // 11.18.3: answer to a ping, or no reply wanted
  if (!acceptCommandNumber(h)) return true;
  if (h.targetTransferTag != kReservedTag) return true;  // reply to our NOP-In (we send none)
  // 11.19: echo the ping data (bounded by the initiator's receive limit).
  size_t echo = std::min<size_t>(pdu.data.size(), parameters_.initiatorMaxRecvDataSegmentLength);
  Bhs bhs = buildNopIn(h.initiatorTaskTag, kReservedTag, h.lun, nextStatus(), uint32_t(echo));
  return transport_.sendPdu(bhs, pdu.data.data(), echo);
}

bool Connection::sendRefusal(const InitiatorHeader& command, scsi::Refusal why) {
  return sendCommandResult(command, scsi::refusedCommand(why), 0);
}

bool Connection::handleScsiCommand(Pdu& pdu) {
  const InitiatorHeader& h = pdu.header;
  const auto started = Clock::now();
  if (!acceptCommandNumber(h)) return true;
  if (writeTasks_.count(h.initiatorTaskTag)) {
    // 11.3: the ITT must be unique among the tasks in flight.
    return sendReject(kRejectTaskInProgress, pdu.rawHeader);
  }
  std::vector<uint8_t> cdb(h.cdb.begin(), h.cdb.end());
  cdb.insert(cdb.end(), pdu.ahs.extendedCdb.begin(), pdu.ahs.extendedCdb.end());
  const size_t cdbLength = pdu.ahs.extendedCdb.empty() ? scsi::cdbLengthInField(cdb[0], h.cdb.size()) : cdb.size();
  const uint64_t lun = decodeLun(h.lun);

  if (h.readFlag && h.writeFlag) {
    // Bidirectional commands are not offered by this device; Data-Out that may follow is
    // rejected as belonging to no task.
    return sendRefusal(h, scsi::Refusal::kBidirectional);
  }
  if (!h.writeFlag) {
    return executeAndRespond(h, cdb.data(), cdbLength, lun, nullptr, 0, started);
  }

  // Write path (11.7, 11.8; 13.10/13.11/13.14 for unsolicited data).
  const uint32_t edtl = h.expectedDataTransferLength;
  const uint32_t immediate = uint32_t(pdu.data.size());
  if (immediate > 0 && !parameters_.immediateData) return sendReject(kRejectProtocolError, pdu.rawHeader);
  if (immediate > edtl || immediate > parameters_.firstBurstLength) {
    return sendReject(kRejectProtocolError, pdu.rawHeader);
  }
  // Per connection, buffered writes waiting for Data-Out never exceed twice the per-command cap.
  if (edtl > info_.maxWriteBuffer || bufferedWriteBytes_ + edtl > 2ull * info_.maxWriteBuffer) {
    // Too large to buffer: refuse instead of allocating without bound. Unsolicited Data-Out
    // that may follow is rejected as belonging to no task.
    return sendRefusal(h, scsi::Refusal::kInsufficientResources);
  }
  if (edtl == 0) return executeAndRespond(h, cdb.data(), cdbLength, lun, nullptr, 0, started);
  if (immediate == edtl) {
    return executeAndRespond(h, cdb.data(), cdbLength, lun, pdu.data.data(), immediate, started);
  }

  WriteTask task;
  task.command = h;
  task.cdb.assign(cdb.begin(), cdb.begin() + cdbLength);
  task.lun = lun;
  task.started = started;
  task.buffer.resize(edtl);
  if (immediate > 0) std::memcpy(task.buffer.data(), pdu.data.data(), immediate);
  task.received = immediate;
  task.unsolicitedLimit = std::min(edtl, parameters_.firstBurstLength);
  task.unsolicitedOpen = !h.finalFlag && !parameters_.initialR2T && immediate < task.unsolicitedLimit;
  if (!h.finalFlag && parameters_.initialR2T) return sendReject(kRejectProtocolError, pdu.rawHeader);
  bufferedWriteBytes_ += task.buffer.size();
  auto [it, inserted] = writeTasks_.emplace(h.initiatorTaskTag, std::move(task));
  if (it->second.unsolicitedOpen) return true;
  return sendNextR2t(it->second);
}

bool Connection::sendNextR2t(WriteTask& task) {
  // 11.8: one R2T at a time (MaxOutstandingR2T = 1), each at most MaxBurstLength.
  const uint32_t edtl = task.command.expectedDataTransferLength;
  R2tFields r2t;
  r2t.itt = task.command.initiatorTaskTag;
  r2t.ttt = nextTargetTransferTag_++;
  if (nextTargetTransferTag_ == kReservedTag) nextTargetTransferTag_ = 1;
  r2t.lun = task.command.lun;
  r2t.r2tSn = task.nextR2tSn++;
  r2t.bufferOffset = task.received;
  r2t.desiredLength = std::min(edtl - task.received, parameters_.maxBurstLength);
  task.r2tOpen = true;
  task.r2tTag = r2t.ttt;
  task.r2tOffset = r2t.bufferOffset;
  task.r2tLength = r2t.desiredLength;
  task.nextDataSn = 0;  // 11.7.5: DataSN starts at 0 for each R2T's sequence
  return transport_.sendPdu(buildR2t(r2t, currentNumbers()), nullptr, 0);
}

bool Connection::handleDataOut(Pdu& pdu) {
  const InitiatorHeader& h = pdu.header;
  auto it = writeTasks_.find(h.initiatorTaskTag);
  if (it == writeTasks_.end()) {
    // Data for a task we do not have (finished, aborted, or never seen): 11.17.1 invalid field.
    return sendReject(kRejectInvalidPduField, pdu.rawHeader);
  }
  WriteTask& task = it->second;
  const uint32_t length = uint32_t(pdu.data.size());
  const uint32_t edtl = task.command.expectedDataTransferLength;
  bool valid;
  if (h.targetTransferTag == kReservedTag) {
    valid = task.unsolicitedOpen && uint64_t(h.bufferOffset) + length <= task.unsolicitedLimit;
  } else {
    valid = task.r2tOpen && h.targetTransferTag == task.r2tTag &&
            uint64_t(h.bufferOffset) + length <= uint64_t(task.r2tOffset) + task.r2tLength;
  }
  // 13.18/13.19 (DataPDUInOrder/DataSequenceInOrder=Yes): data arrives at increasing offsets;
  // 11.7.5: DataSN counts the PDUs of the sequence from 0.
  valid = valid && h.bufferOffset == task.received && h.dataSn == task.nextDataSn &&
          uint64_t(h.bufferOffset) + length <= edtl;
  if (!valid) {
    // ERL 0: a sequencing error fails the task; tell the initiator and forget the task.
    bufferedWriteBytes_ -= task.buffer.size();
    InitiatorHeader command = task.command;
    writeTasks_.erase(it);
    if (!sendReject(kRejectProtocolError, pdu.rawHeader)) return false;
    return sendRefusal(command, scsi::Refusal::kDataOutFailed);
  }
  if (length > 0) std::memcpy(task.buffer.data() + h.bufferOffset, pdu.data.data(), length);
  task.received += length;
  task.nextDataSn++;
  if (h.finalFlag) {
    if (h.targetTransferTag == kReservedTag) {
      task.unsolicitedOpen = false;
    } else {
      if (task.received != task.r2tOffset + task.r2tLength) {
        // 11.7.1: F ends the sequence; it must carry all the R2T asked for.
        bufferedWriteBytes_ -= task.buffer.size();
        InitiatorHeader command = task.command;
        writeTasks_.erase(it);
        if (!sendReject(kRejectProtocolError, pdu.rawHeader)) return false;
        return sendRefusal(command, scsi::Refusal::kDataOutFailed);
      }
      task.r2tOpen = false;
    }
  }
  if (task.received == edtl) {
    WriteTask done = std::move(task);
    writeTasks_.erase(it);
    bufferedWriteBytes_ -= done.buffer.size();
    return executeAndRespond(done.command, done.cdb.data(), done.cdb.size(), done.lun, done.buffer.data(),
                             done.buffer.size(), done.started);
  }
  if (!task.unsolicitedOpen && !task.r2tOpen) return sendNextR2t(task);
  return true;
}

bool Connection::executeAndRespond(const InitiatorHeader& command, const uint8_t* cdb, size_t cdbLength, uint64_t lun,
                                   const uint8_t* dataOut, size_t dataOutLength, Clock::time_point started) {
  scsi::CommandRequest request;
  request.cdb = cdb;
  request.cdbLength = cdbLength;
  request.lun = lun;
  request.nexusId = session_->nexusId;
  request.expectedDataLength = command.expectedDataTransferLength;
  request.readFlag = command.readFlag;
  request.writeFlag = command.writeFlag;
  request.dataOut = dataOut;
  request.dataOutLength = dataOutLength;
  const scsi::TaskOutcome outcome = luns_.empty() ? scsi::routeCommand(lun_.get(), request) : scsi::routeCommand(luns_, request);
  if (outcome.bytesWritten > 0) {
    session_->counters.bytesWritten.fetch_add(outcome.bytesWritten, std::memory_order_relaxed);
  }
  bool ok = sendCommandResult(command, outcome.result, outcome.dataOutFromCdb);
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  session_->counters.commands.fetch_add(1, std::memory_order_relaxed);
  session_->counters.serviceMicroseconds.fetch_add(uint64_t(elapsed), std::memory_order_relaxed);
  if (trace_ && trace_->enabled()) {
    const auto startNs = std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count();
    trace_->record(cdb, cdbLength, uint64_t(startNs), uint32_t(std::min<int64_t>(elapsed, 0xffffffff)), session_->nexusId,
                   static_cast<uint8_t>(outcome.result.status));
  }
  return ok;
}

bool Connection::sendCommandResult(const InitiatorHeader& command, const scsi::CommandResult& result,
                                   uint64_t cdbDataOut) {
  const uint32_t edtl = command.expectedDataTransferLength;
  const uint8_t status = static_cast<uint8_t>(result.status);
  // Residuals (11.4.5): compare what the command would move with what the initiator expected.
  uint64_t moved;
  if (command.writeFlag) {
    moved = cdbDataOut;
  } else {
    moved = result.dataInLength();
  }
  const bool overflow = moved > edtl;
  const bool underflow = moved < edtl && (command.readFlag || command.writeFlag);
  const uint32_t residual = overflow ? uint32_t(std::min<uint64_t>(moved - edtl, 0xffffffffu))
                                     : (underflow ? uint32_t(edtl - moved) : 0);

  // Data-In (11.7): at most the EDTL, in PDUs of at most the initiator's
  // MaxRecvDataSegmentLength; F at the end of each MaxBurstLength sequence.
  uint64_t toSend = 0;
  if (command.readFlag && !command.writeFlag) toSend = std::min<uint64_t>(result.dataInLength(), edtl);
  const bool collapseStatus = result.status == scsi::Status::kGood && result.sense.empty() && toSend > 0;
  uint32_t dataSn = 0;
  if (toSend > 0) {
    const uint32_t segmentLimit = std::max<uint32_t>(512, parameters_.initiatorMaxRecvDataSegmentLength);
    const uint32_t burstLimit = std::max<uint32_t>(512, parameters_.maxBurstLength);
    size_t extentIndex = 0;
    uint64_t extentOffset = 0;  // bytes of extents[extentIndex] already sent
    uint64_t offset = 0;
    std::vector<scsi::FileExtent> pieces;
    while (offset < toSend) {
      const uint64_t burstEnd = (offset / burstLimit + 1) * burstLimit;
      const uint32_t length = uint32_t(std::min<uint64_t>({toSend - offset, segmentLimit, burstEnd - offset}));
      const bool last = offset + length == toSend;
      DataInFields fields;
      fields.itt = command.initiatorTaskTag;
      fields.lun = command.lun;
      fields.finalFlag = last || offset + length == burstEnd;
      fields.dataSn = dataSn++;
      fields.bufferOffset = uint32_t(offset);
      fields.dataSegmentLength = length;
      SequenceNumbers sn = currentNumbers();
      if (last && collapseStatus) {
        // 11.7.4: phase collapse, status in the last Data-In (S bit) when GOOD.
        fields.statusPresent = true;
        fields.status = status;
        fields.residualOverflow = overflow;
        fields.residualUnderflow = underflow;
        fields.residualCount = residual;
        sn = nextStatus();
      }
      Bhs bhs = buildDataIn(fields, sn);
      bool sent;
      if (!result.extents.empty()) {
        pieces.clear();
        uint32_t need = length;
        while (need > 0 && extentIndex < result.extents.size()) {
          const scsi::FileExtent& extent = result.extents[extentIndex];
          const uint64_t available = extent.length - extentOffset;
          const uint32_t take = uint32_t(std::min<uint64_t>(available, need));
          if (take > 0) pieces.push_back(scsi::FileExtent{extent.fd, extent.offset + extentOffset, take});
          need -= take;
          extentOffset += take;
          if (extentOffset == extent.length) {
            ++extentIndex;
            extentOffset = 0;
          }
        }
        const PduTransport::FileSend outcome = transport_.sendPduFromFiles(bhs, pieces);
        if (outcome == PduTransport::FileSend::kFileFailed && lun_) {
          // Part of this Data-In may be on the wire: at ErrorRecoveryLevel 0 the connection
          // ends (RFC 7143 section 7). The LUN reads through memory from now on, so the
          // command the initiator retries after reconnecting gets MEDIUM ERROR sense instead.
          lun_->noteReadFault(EIO);
        }
        sent = outcome == PduTransport::FileSend::kSent;
      } else {
        sent = transport_.sendPdu(bhs, result.data.data() + offset, length);
      }
      if (!sent) return false;
      offset += length;
    }
    session_->counters.bytesRead.fetch_add(toSend, std::memory_order_relaxed);
  }
  if (collapseStatus) return true;

  // SCSI Response (11.4) with sense data (11.4.7: 2-byte SenseLength, then sense).
  std::vector<uint8_t> senseSegment;
  if (!result.sense.empty()) {
    const size_t senseLength = std::min<size_t>(result.sense.size(), 252);
    senseSegment.resize(2 + senseLength);
    common::storeBe16(senseSegment.data(), uint16_t(senseLength));
    std::memcpy(senseSegment.data() + 2, result.sense.data(), senseLength);
  }
  ScsiResponseFields response;
  response.itt = command.initiatorTaskTag;
  response.status = status;
  response.residualOverflow = overflow;
  response.residualUnderflow = underflow;
  response.residualCount = residual;
  response.expDataSn = dataSn;
  response.dataSegmentLength = uint32_t(senseSegment.size());
  Bhs bhs = buildScsiResponse(response, nextStatus());
  return transport_.sendPdu(bhs, senseSegment.data(), senseSegment.size());
}

bool Connection::handleTaskManagement(const Pdu& pdu) {
  const InitiatorHeader& h = pdu.header;
  if (!acceptCommandNumber(h)) return true;
  const uint64_t lun = decodeLun(h.lun);
  uint8_t response = kFunctionComplete;
  bool coldReset = false;
  auto dropTasks = [&](bool onlyLun) {
    for (auto it = writeTasks_.begin(); it != writeTasks_.end();) {
      if (!onlyLun || it->second.lun == lun) {
        bufferedWriteBytes_ -= it->second.buffer.size();
        it = writeTasks_.erase(it);
      } else {
        ++it;
      }
    }
  };
  switch (h.taskFunction) {
    case kAbortTask: {
      auto it = writeTasks_.find(h.referencedTaskTag);
      if (it != writeTasks_.end()) {
        bufferedWriteBytes_ -= it->second.buffer.size();
        writeTasks_.erase(it);
      } else if (serialLessOrEqual(expCmdSn_, h.refCmdSn) && serialLess(h.refCmdSn, h.cmdSn)) {
        // 11.5.1 a): the referenced command never arrived but is below this TMF's CmdSN:
        // consider it received and answer "function complete".
        expCmdSn_ = h.refCmdSn + 1;
      } else {
        // Commands run to completion before the next PDU is read: nothing left to abort.
        response = kTaskDoesNotExist;
      }
      break;
    }
    case kAbortTaskSet:
    case kClearTaskSet:
      if (lun != 0 && findLun(lun) == nullptr) {
        response = kLunDoesNotExist;
        break;
      }
      dropTasks(true);
      break;
    case kLogicalUnitReset: {
      scsi::Lun* device = lun == 0 ? lun_.get() : findLun(lun);
      if (device == nullptr) {
        response = kLunDoesNotExist;
        break;
      }
      dropTasks(true);
      device->logicalUnitReset(session_->nexusId);
      break;
    }
    case kTargetWarmReset:
    case kTargetColdReset:
      dropTasks(false);
      if (lun_) lun_->logicalUnitReset(session_->nexusId);
      for (const auto& entry : luns_) {
        if (entry.lun != 0 && entry.device != nullptr) entry.device->logicalUnitReset(session_->nexusId);
      }
      coldReset = h.taskFunction == kTargetColdReset;
      break;
    case kTaskReassign:
      response = kTaskReassignNotSupported;  // needs ErrorRecoveryLevel 2 (11.5.1)
      break;
    default:
      response = kFunctionNotSupported;  // CLEAR ACA and undefined functions
      break;
  }
  if (!transport_.sendPdu(buildTaskManagementResponse(h.initiatorTaskTag, response, nextStatus()), nullptr, 0)) {
    return false;
  }
  if (coldReset) {
    // 11.5.1: after a TARGET COLD RESET the target drops all of its connections.
    host_.dropTargetSessions(session_->targetName, info_.token, "target cold reset");
    endReason_ = "target cold reset";
    return false;
  }
  return true;
}

bool Connection::sendTextChunk() {
  const size_t limit = std::max<uint32_t>(512, parameters_.initiatorMaxRecvDataSegmentLength);
  const size_t remaining = textPending_.size() - textSent_;
  const size_t length = std::min(remaining, limit);
  const bool last = length == remaining;
  TextResponseFields fields;
  fields.finalFlag = last;
  fields.continueFlag = !last;  // 11.11.2: more text follows in the next response
  fields.lun = textRequest_.lun;
  fields.itt = textRequest_.initiatorTaskTag;
  if (!last) {
    textTag_ = nextTargetTransferTag_++;
    if (nextTargetTransferTag_ == kReservedTag) nextTargetTransferTag_ = 1;
  } else {
    textTag_ = kReservedTag;
  }
  fields.ttt = textTag_;
  fields.dataSegmentLength = uint32_t(length);
  Bhs bhs = buildTextResponse(fields, nextStatus());
  bool ok = transport_.sendPdu(bhs, textPending_.data() + textSent_, length);
  textSent_ += length;
  if (last) {
    textPending_.clear();
    textSent_ = 0;
  }
  return ok;
}

bool Connection::handleText(const Pdu& pdu) {
  const InitiatorHeader& h = pdu.header;
  if (!acceptCommandNumber(h)) return true;
  if (h.targetTransferTag != kReservedTag) {
    // Continuation of a long response we are sending (11.10.4), or of the initiator's text.
    if (h.targetTransferTag == textTag_ && !textPending_.empty()) {
      if (h.initiatorTaskTag != textRequest_.initiatorTaskTag) return sendReject(kRejectProtocolError, pdu.rawHeader);
      return sendTextChunk();
    }
    if (h.targetTransferTag != textTag_) return sendReject(kRejectInvalidPduField, pdu.rawHeader);
  } else {
    textPending_.clear();
    textSent_ = 0;
    if (textRequestBuffer_.empty()) textRequest_ = h;
  }
  if (textRequestBuffer_.size() + pdu.data.size() > kMaxTextBytes) {
    textRequestBuffer_.clear();
    return sendReject(kRejectProtocolError, pdu.rawHeader);
  }
  textRequestBuffer_.insert(textRequestBuffer_.end(), pdu.data.begin(), pdu.data.end());
  if (h.continueFlag) {
    // 11.10.2: the initiator has more text; ask for it with an empty response and a tag.
    textRequest_ = h;
    textTag_ = nextTargetTransferTag_++;
    if (nextTargetTransferTag_ == kReservedTag) nextTargetTransferTag_ = 1;
    TextResponseFields fields;
    fields.finalFlag = false;
    fields.lun = h.lun;
    fields.itt = h.initiatorTaskTag;
    fields.ttt = textTag_;
    return transport_.sendPdu(buildTextResponse(fields, nextStatus()), nullptr, 0);
  }
  textRequest_ = h;
  std::vector<TextPair> pairs;
  TextError error = parseTextPairs(textRequestBuffer_.data(), textRequestBuffer_.size(), &pairs);
  textRequestBuffer_.clear();
  if (error != TextError::kNone) return sendReject(kRejectProtocolError, pdu.rawHeader);
  std::vector<uint8_t> out;
  for (const auto& pair : pairs) {
    if (pair.key == "SendTargets") {
      // 13.3 / Appendix C: All = every target this initiator may use; "" or a name = that one.
      std::vector<std::string> names;
      if (pair.value == "All") {
        names = host_.visibleTargets(session_->initiatorName);
      } else if (!session_->discovery) {
        const std::string wanted = pair.value.empty() ? session_->targetName : pair.value;
        for (const auto& name : host_.visibleTargets(session_->initiatorName)) {
          if (name == wanted) names.push_back(name);
        }
      } else {
        for (const auto& name : host_.visibleTargets(session_->initiatorName)) {
          if (name == pair.value) names.push_back(name);
        }
      }
      for (const auto& name : names) {
        appendTextPair(out, "TargetName", name);
        appendTextPair(out, "TargetAddress", info_.portalAddress + "," + std::to_string(info_.limits.portalGroupTag));
      }
    } else if (pair.key.rfind("X-", 0) == 0 || pair.key.rfind("X#", 0) == 0) {
      appendTextPair(out, pair.key, "NotUnderstood");
    } else {
      // Operational keys cannot be renegotiated in the full feature phase here (6.2).
      appendTextPair(out, pair.key, "NotUnderstood");
    }
  }
  textPending_ = std::move(out);
  textSent_ = 0;
  return sendTextChunk();
}

bool Connection::handleLogout(const Pdu& pdu, bool* closeAfter) {
  const InitiatorHeader& h = pdu.header;
  if (!acceptCommandNumber(h)) return true;
  uint8_t response = 0;  // 11.15.1: connection or session closed successfully
  if (h.logoutReason == 2) {
    response = 2;  // connection recovery is not supported (ERL 0)
  } else if (h.logoutReason == 1 && h.connectionId != connectionId_) {
    response = 1;  // CID not found: this session has only this connection
  } else if (h.logoutReason > 2) {
    return sendReject(kRejectInvalidPduField, pdu.rawHeader);
  }
  Bhs bhs = buildLogoutResponse(h.initiatorTaskTag, response, uint16_t(parameters_.defaultTime2Wait),
                                uint16_t(parameters_.defaultTime2Retain), nextStatus());
  bool ok = transport_.sendPdu(bhs, nullptr, 0);
  if (response == 0) {
    *closeAfter = true;
    endReason_ = "logout";
  }
  return ok;
}

}  // namespace lanboot::iscsi
