#include "iscsi/pdu.h"

#include <cstring>

#include "common/byte_order.h"

namespace lanboot::iscsi {

using common::loadBe16;
using common::loadBe24;
using common::loadBe32;
using common::storeBe16;
using common::storeBe24;
using common::storeBe32;

const char* opcodeName(uint8_t opcode) {
  switch (opcode) {
    case 0x00: return "NOP-Out";
    case 0x01: return "SCSI Command";
    case 0x02: return "Task Management Request";
    case 0x03: return "Login Request";
    case 0x04: return "Text Request";
    case 0x05: return "SCSI Data-Out";
    case 0x06: return "Logout Request";
    case 0x10: return "SNACK Request";
    case 0x20: return "NOP-In";
    case 0x21: return "SCSI Response";
    case 0x22: return "Task Management Response";
    case 0x23: return "Login Response";
    case 0x24: return "Text Response";
    case 0x25: return "SCSI Data-In";
    case 0x26: return "Logout Response";
    case 0x31: return "R2T";
    case 0x32: return "Asynchronous Message";
    case 0x3f: return "Reject";
    default: return "unknown";
  }
}

const char* pduErrorName(PduError error) {
  switch (error) {
    case PduError::kNone: return "none";
    case PduError::kUnknownOpcode: return "unknown opcode";
    case PduError::kInvalidField: return "invalid PDU field";
    case PduError::kBadAhs: return "malformed additional header segment";
  }
  return "unknown";
}

PduError parseInitiatorHeader(const uint8_t* bhs, InitiatorHeader* out) {
  InitiatorHeader h;
  const uint8_t opcodeByte = bhs[0] & 0x3f;
  h.immediate = (bhs[0] & 0x40) != 0;
  h.flags = bhs[1];
  h.finalFlag = (bhs[1] & 0x80) != 0;
  h.totalAhsBytes = uint32_t(bhs[4]) * 4;
  h.dataSegmentLength = loadBe24(bhs + 5);
  std::memcpy(h.lun.data(), bhs + 8, 8);
  h.initiatorTaskTag = loadBe32(bhs + 16);

  switch (opcodeByte) {
    case 0x00:  // NOP-Out (11.18): F must be 1.
      h.opcode = Opcode::kNopOut;
      if (!h.finalFlag) return PduError::kInvalidField;
      h.targetTransferTag = loadBe32(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      break;
    case 0x01:  // SCSI Command (11.3)
      h.opcode = Opcode::kScsiCommand;
      h.readFlag = (bhs[1] & 0x40) != 0;
      h.writeFlag = (bhs[1] & 0x20) != 0;
      h.taskAttribute = bhs[1] & 0x07;
      h.expectedDataTransferLength = loadBe32(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      std::memcpy(h.cdb.data(), bhs + 32, 16);
      // 11.3.1.1/11.3.1.2: an immediate-data segment only makes sense on a write.
      if (h.dataSegmentLength > 0 && !h.writeFlag) return PduError::kInvalidField;
      break;
    case 0x02:  // Task Management Function Request (11.5): F must be 1.
      h.opcode = Opcode::kTaskManagementRequest;
      if (!h.finalFlag) return PduError::kInvalidField;
      h.taskFunction = bhs[1] & 0x7f;
      h.referencedTaskTag = loadBe32(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      h.refCmdSn = loadBe32(bhs + 32);
      h.expDataSn = loadBe32(bhs + 36);
      break;
    case 0x03:  // Login Request (11.12)
      h.opcode = Opcode::kLoginRequest;
      h.transit = (bhs[1] & 0x80) != 0;
      h.continueFlag = (bhs[1] & 0x40) != 0;
      h.currentStage = (bhs[1] >> 2) & 3;
      h.nextStage = bhs[1] & 3;
      h.versionMax = bhs[2];
      h.versionMin = bhs[3];
      std::memcpy(h.isid.data(), bhs + 8, 6);
      h.tsih = loadBe16(bhs + 14);
      h.connectionId = loadBe16(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      // 11.12.2: T and C must not both be set; stage 2 is reserved; NSG only counts with T.
      if (h.transit && h.continueFlag) return PduError::kInvalidField;
      if (h.currentStage == 2 || h.currentStage == kFullFeaturePhase) return PduError::kInvalidField;
      if (h.transit && (h.nextStage == 2 || h.nextStage <= h.currentStage)) return PduError::kInvalidField;
      if (h.totalAhsBytes != 0) return PduError::kInvalidField;
      break;
    case 0x04:  // Text Request (11.10)
      h.opcode = Opcode::kTextRequest;
      h.continueFlag = (bhs[1] & 0x40) != 0;
      if (h.finalFlag && h.continueFlag) return PduError::kInvalidField;
      h.targetTransferTag = loadBe32(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      break;
    case 0x05:  // SCSI Data-Out (11.7)
      h.opcode = Opcode::kDataOut;
      h.targetTransferTag = loadBe32(bhs + 20);
      h.expStatSn = loadBe32(bhs + 28);
      h.dataSn = loadBe32(bhs + 36);
      h.bufferOffset = loadBe32(bhs + 40);
      if (h.totalAhsBytes != 0) return PduError::kInvalidField;
      break;
    case 0x06:  // Logout Request (11.14): F must be 1.
      h.opcode = Opcode::kLogoutRequest;
      if (!h.finalFlag) return PduError::kInvalidField;
      h.logoutReason = bhs[1] & 0x7f;
      h.connectionId = loadBe16(bhs + 20);
      h.cmdSn = loadBe32(bhs + 24);
      h.expStatSn = loadBe32(bhs + 28);
      break;
    case 0x10:  // SNACK Request (11.16)
      h.opcode = Opcode::kSnackRequest;
      h.snackType = bhs[1] & 0x0f;
      h.targetTransferTag = loadBe32(bhs + 20);
      h.expStatSn = loadBe32(bhs + 28);
      h.beginRun = loadBe32(bhs + 40);
      h.runLength = loadBe32(bhs + 44);
      break;
    default:
      return PduError::kUnknownOpcode;
  }
  h.opcode = static_cast<Opcode>(opcodeByte);
  *out = h;
  return PduError::kNone;
}

PduError parseAdditionalHeaders(const uint8_t* ahs, size_t length, AdditionalHeaders* out) {
  AdditionalHeaders result;
  if (length % 4 != 0 || length > kMaxAhsBytes) return PduError::kBadAhs;
  size_t position = 0;
  while (position < length) {
    if (length - position < 4) return PduError::kBadAhs;
    // 11.2.2.1: AHSLength counts the bytes after AHSType, without padding.
    const uint16_t ahsLength = loadBe16(ahs + position);
    const uint8_t ahsType = ahs[position + 2];
    if (ahsLength == 0) return PduError::kBadAhs;
    const size_t specificEnd = position + 3 + ahsLength;
    if (specificEnd > length) return PduError::kBadAhs;
    const uint8_t* specific = ahs + position + 3;  // first byte is reserved for both known types
    switch (ahsType) {
      case 1:  // Extended CDB (11.2.2.3): AHSLength = CDB length - 15
        if (!result.extendedCdb.empty() || ahsLength < 2) return PduError::kBadAhs;
        result.extendedCdb.assign(specific + 1, specific + ahsLength);
        break;
      case 2:  // Bidirectional Read Expected Data Transfer Length (11.2.2.4): AHSLength = 5
        if (result.hasBidiReadLength || ahsLength != 5) return PduError::kBadAhs;
        result.hasBidiReadLength = true;
        result.bidiReadLength = loadBe32(specific + 1);
        break;
      default:
        return PduError::kBadAhs;
    }
    position = (specificEnd + 3) & ~size_t(3);
  }
  *out = std::move(result);
  return PduError::kNone;
}

uint64_t decodeLun(const std::array<uint8_t, 8>& lun) {
  for (int i = 2; i < 8; ++i) {
    if (lun[i] != 0) return kInvalidLun;
  }
  const uint8_t addressMethod = lun[0] >> 6;
  if (addressMethod == 0) {  // peripheral device addressing: bus 0 only
    if ((lun[0] & 0x3f) != 0) return kInvalidLun;
    return lun[1];
  }
  if (addressMethod == 1) return (uint64_t(lun[0] & 0x3f) << 8) | lun[1];  // flat space
  return kInvalidLun;
}

std::array<uint8_t, 8> encodeLun(uint64_t lun) {
  std::array<uint8_t, 8> out{};
  if (lun < 256) {
    out[1] = uint8_t(lun);
  } else {
    out[0] = uint8_t(0x40 | ((lun >> 8) & 0x3f));
    out[1] = uint8_t(lun);
  }
  return out;
}

namespace {
Bhs startBhs(Opcode opcode, uint8_t flags, uint32_t dataLength) {
  Bhs b{};
  b[0] = static_cast<uint8_t>(opcode);
  b[1] = flags;
  storeBe24(b.data() + 5, dataLength & kMaxDataSegmentLength);
  return b;
}
void putSequence(Bhs& b, const SequenceNumbers& sn, bool withStatSn = true) {
  if (withStatSn) storeBe32(b.data() + 24, sn.statSn);
  storeBe32(b.data() + 28, sn.expCmdSn);
  storeBe32(b.data() + 32, sn.maxCmdSn);
}
}  // namespace

Bhs buildNopIn(uint32_t itt, uint32_t ttt, const std::array<uint8_t, 8>& lun, const SequenceNumbers& sn,
               uint32_t dataLength) {
  Bhs b = startBhs(Opcode::kNopIn, 0x80, dataLength);
  std::memcpy(b.data() + 8, lun.data(), 8);
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, ttt);
  putSequence(b, sn);
  return b;
}

Bhs buildScsiResponse(const ScsiResponseFields& f, const SequenceNumbers& sn) {
  uint8_t flags = 0x80;
  if (f.residualOverflow) flags |= 0x04;
  if (f.residualUnderflow) flags |= 0x02;
  Bhs b = startBhs(Opcode::kScsiResponse, flags, f.dataSegmentLength);
  b[2] = f.response;
  b[3] = f.status;
  storeBe32(b.data() + 16, f.itt);
  putSequence(b, sn);
  storeBe32(b.data() + 36, f.expDataSn);
  storeBe32(b.data() + 44, (f.residualOverflow || f.residualUnderflow) ? f.residualCount : 0);
  return b;
}

Bhs buildDataIn(const DataInFields& f, const SequenceNumbers& sn) {
  uint8_t flags = 0;
  if (f.finalFlag) flags |= 0x80;
  if (f.statusPresent) {
    flags |= 0x01;
    if (f.residualOverflow) flags |= 0x04;
    if (f.residualUnderflow) flags |= 0x02;
  }
  Bhs b = startBhs(Opcode::kDataIn, flags, f.dataSegmentLength);
  if (f.statusPresent) b[3] = f.status;
  std::memcpy(b.data() + 8, f.lun.data(), 8);
  storeBe32(b.data() + 16, f.itt);
  storeBe32(b.data() + 20, kReservedTag);
  putSequence(b, sn, f.statusPresent);
  storeBe32(b.data() + 36, f.dataSn);
  storeBe32(b.data() + 40, f.bufferOffset);
  if (f.statusPresent && (f.residualOverflow || f.residualUnderflow)) storeBe32(b.data() + 44, f.residualCount);
  return b;
}

Bhs buildR2t(const R2tFields& f, const SequenceNumbers& sn) {
  Bhs b = startBhs(Opcode::kReadyToTransfer, 0x80, 0);
  std::memcpy(b.data() + 8, f.lun.data(), 8);
  storeBe32(b.data() + 16, f.itt);
  storeBe32(b.data() + 20, f.ttt);
  putSequence(b, sn);
  storeBe32(b.data() + 36, f.r2tSn);
  storeBe32(b.data() + 40, f.bufferOffset);
  storeBe32(b.data() + 44, f.desiredLength);
  return b;
}

Bhs buildTaskManagementResponse(uint32_t itt, uint8_t response, const SequenceNumbers& sn) {
  Bhs b = startBhs(Opcode::kTaskManagementResponse, 0x80, 0);
  b[2] = response;
  storeBe32(b.data() + 16, itt);
  putSequence(b, sn);
  return b;
}

Bhs buildLoginResponse(const LoginResponseFields& f, const SequenceNumbers& sn) {
  uint8_t flags = uint8_t(((f.currentStage & 3) << 2) | (f.transit ? (f.nextStage & 3) : 0));
  if (f.transit) flags |= 0x80;
  if (f.continueFlag) flags |= 0x40;
  Bhs b = startBhs(Opcode::kLoginResponse, flags, f.dataSegmentLength);
  b[2] = f.versionMax;
  b[3] = f.versionActive;
  std::memcpy(b.data() + 8, f.isid.data(), 6);
  storeBe16(b.data() + 14, f.tsih);
  storeBe32(b.data() + 16, f.itt);
  putSequence(b, sn);
  b[36] = f.statusClass;
  b[37] = f.statusDetail;
  return b;
}

Bhs buildTextResponse(const TextResponseFields& f, const SequenceNumbers& sn) {
  uint8_t flags = 0;
  if (f.finalFlag) flags |= 0x80;
  if (f.continueFlag) flags |= 0x40;
  Bhs b = startBhs(Opcode::kTextResponse, flags, f.dataSegmentLength);
  std::memcpy(b.data() + 8, f.lun.data(), 8);
  storeBe32(b.data() + 16, f.itt);
  storeBe32(b.data() + 20, f.ttt);
  putSequence(b, sn);
  return b;
}

Bhs buildLogoutResponse(uint32_t itt, uint8_t response, uint16_t time2Wait, uint16_t time2Retain,
                        const SequenceNumbers& sn) {
  Bhs b = startBhs(Opcode::kLogoutResponse, 0x80, 0);
  b[2] = response;
  storeBe32(b.data() + 16, itt);
  putSequence(b, sn);
  storeBe16(b.data() + 40, time2Wait);
  storeBe16(b.data() + 42, time2Retain);
  return b;
}

Bhs buildReject(uint8_t reason, const SequenceNumbers& sn) {
  Bhs b = startBhs(Opcode::kReject, 0x80, kBhsLength);
  b[2] = reason;
  storeBe32(b.data() + 16, kReservedTag);
  putSequence(b, sn);
  return b;
}

Bhs buildAsyncMessage(const AsyncMessageFields& f, const SequenceNumbers& sn) {
  Bhs b = startBhs(Opcode::kAsyncMessage, 0x80, f.dataSegmentLength);
  std::memcpy(b.data() + 8, f.lun.data(), 8);
  storeBe32(b.data() + 16, kReservedTag);
  putSequence(b, sn);
  b[36] = f.asyncEvent;
  b[37] = f.asyncVCode;
  storeBe16(b.data() + 38, f.parameter1);
  storeBe16(b.data() + 40, f.parameter2);
  storeBe16(b.data() + 42, f.parameter3);
  return b;
}

}  // namespace lanboot::iscsi
