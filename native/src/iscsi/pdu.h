// iSCSI PDU codec (RFC 7143 section 11): pure functions from bytes to values and back.
// No sockets, no allocation beyond the returned values. Every field offset below is the
// one in the RFC's BHS diagrams (11.2.1 and the per-opcode sections).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lanboot::iscsi {

constexpr size_t kBhsLength = 48;          // RFC 7143 11.2.1
constexpr uint32_t kReservedTag = 0xffffffff;  // RFC 7143 11.2.1.8 "reserved tag value"
constexpr uint32_t kMaxDataSegmentLength = 0xffffff;  // 24-bit field (11.2.1.5)

enum class Opcode : uint8_t {
  // Initiator opcodes (RFC 7143 11.2.1.2).
  kNopOut = 0x00,
  kScsiCommand = 0x01,
  kTaskManagementRequest = 0x02,
  kLoginRequest = 0x03,
  kTextRequest = 0x04,
  kDataOut = 0x05,
  kLogoutRequest = 0x06,
  kSnackRequest = 0x10,
  // Target opcodes.
  kNopIn = 0x20,
  kScsiResponse = 0x21,
  kTaskManagementResponse = 0x22,
  kLoginResponse = 0x23,
  kTextResponse = 0x24,
  kDataIn = 0x25,
  kLogoutResponse = 0x26,
  kReadyToTransfer = 0x31,
  kAsyncMessage = 0x32,
  kReject = 0x3f,
};

const char* opcodeName(uint8_t opcode);

enum class PduError {
  kNone = 0,
  kUnknownOpcode,       // not an initiator opcode: Reject reason 0x04 (RFC 7143 11.17.1)
  kInvalidField,        // a field with a value the RFC forbids: Reject reason 0x09
  kBadAhs,              // AHS malformed or of an unknown type: Reject reason 0x09/0x04
};

const char* pduErrorName(PduError error);

// Login stages (RFC 7143 11.12.3, CSG/NSG).
enum Stage : uint8_t {
  kSecurityNegotiation = 0,
  kOperationalNegotiation = 1,
  kFullFeaturePhase = 3,
};

// Decoded BHS of any initiator PDU. Only the fields of the PDU's own opcode are meaningful.
struct InitiatorHeader {
  Opcode opcode = Opcode::kNopOut;
  bool immediate = false;        // I bit (11.2.1.1)
  bool finalFlag = false;        // F bit
  uint8_t flags = 0;             // byte 1 as received
  uint32_t totalAhsBytes = 0;    // TotalAHSLength * 4
  uint32_t dataSegmentLength = 0;
  std::array<uint8_t, 8> lun{};  // raw LUN field (see decodeLun)
  uint32_t initiatorTaskTag = 0;
  uint32_t targetTransferTag = kReservedTag;
  uint32_t cmdSn = 0;
  uint32_t expStatSn = 0;

  // SCSI Command (11.3)
  bool readFlag = false;
  bool writeFlag = false;
  uint8_t taskAttribute = 0;
  uint32_t expectedDataTransferLength = 0;
  std::array<uint8_t, 16> cdb{};

  // Task Management Function Request (11.5)
  uint8_t taskFunction = 0;
  uint32_t referencedTaskTag = kReservedTag;
  uint32_t refCmdSn = 0;
  uint32_t expDataSn = 0;

  // Login Request (11.12)
  bool transit = false;
  bool continueFlag = false;  // C bit, also Text Request (11.10)
  uint8_t currentStage = 0;
  uint8_t nextStage = 0;
  uint8_t versionMax = 0;
  uint8_t versionMin = 0;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;
  uint16_t connectionId = 0;  // also Logout Request

  // SCSI Data-Out (11.7)
  uint32_t dataSn = 0;
  uint32_t bufferOffset = 0;

  // Logout Request (11.14)
  uint8_t logoutReason = 0;

  // SNACK Request (11.16)
  uint8_t snackType = 0;
  uint32_t beginRun = 0;
  uint32_t runLength = 0;
};

// Parses the 48 BHS bytes of a PDU sent by an initiator. Never reads past bhs[47].
PduError parseInitiatorHeader(const uint8_t* bhs, InitiatorHeader* out);

// Additional header segments (RFC 7143 11.2.2).
struct AdditionalHeaders {
  std::vector<uint8_t> extendedCdb;  // CDB bytes beyond the first 16 (AHS type 1)
  bool hasBidiReadLength = false;
  uint32_t bidiReadLength = 0;       // AHS type 2
};
constexpr uint32_t kMaxAhsBytes = 255 * 4;  // TotalAHSLength is one byte of 4-byte words

PduError parseAdditionalHeaders(const uint8_t* ahs, size_t length, AdditionalHeaders* out);

// Decodes the 8-byte LUN field (SAM-5 4.7, single level peripheral or flat addressing).
// Returns kInvalidLun for multi-level or unknown address methods.
constexpr uint64_t kInvalidLun = ~uint64_t(0);
uint64_t decodeLun(const std::array<uint8_t, 8>& lun);
std::array<uint8_t, 8> encodeLun(uint64_t lun);

// Bytes of padding after a data segment of `length` bytes (11.2.3: 4-byte alignment).
inline uint32_t paddingFor(uint32_t length) { return (4 - (length & 3)) & 3; }

// --- Target PDUs (builders). Each fills a 48-byte BHS. -------------------------------------

using Bhs = std::array<uint8_t, kBhsLength>;

struct SequenceNumbers {
  uint32_t statSn = 0;
  uint32_t expCmdSn = 0;
  uint32_t maxCmdSn = 0;
};

// NOP-In (11.19). ttt = kReservedTag for answers to NOP-Out; itt = kReservedTag for pings.
Bhs buildNopIn(uint32_t itt, uint32_t ttt, const std::array<uint8_t, 8>& lun, const SequenceNumbers& sn,
               uint32_t dataLength);

// SCSI Response (11.4). Data segment = 2-byte SenseLength + sense (11.4.7).
struct ScsiResponseFields {
  uint32_t itt = 0;
  uint8_t response = 0;  // 0x00 command completed at target
  uint8_t status = 0;
  bool residualOverflow = false;
  bool residualUnderflow = false;
  uint32_t residualCount = 0;
  uint32_t expDataSn = 0;
  uint32_t dataSegmentLength = 0;
};
Bhs buildScsiResponse(const ScsiResponseFields& fields, const SequenceNumbers& sn);

// SCSI Data-In (11.7).
struct DataInFields {
  uint32_t itt = 0;
  std::array<uint8_t, 8> lun{};
  bool finalFlag = false;
  bool statusPresent = false;  // S bit: phase-collapsed status (11.7.4)
  uint8_t status = 0;
  bool residualOverflow = false;
  bool residualUnderflow = false;
  uint32_t residualCount = 0;
  uint32_t dataSn = 0;
  uint32_t bufferOffset = 0;
  uint32_t dataSegmentLength = 0;
};
// StatSN is only carried when statusPresent (11.7.4); otherwise the field is reserved zero.
Bhs buildDataIn(const DataInFields& fields, const SequenceNumbers& sn);

// Ready To Transfer (11.8).
struct R2tFields {
  uint32_t itt = 0;
  uint32_t ttt = 0;
  std::array<uint8_t, 8> lun{};
  uint32_t r2tSn = 0;
  uint32_t bufferOffset = 0;
  uint32_t desiredLength = 0;
};
Bhs buildR2t(const R2tFields& fields, const SequenceNumbers& sn);

// Task Management Function Response (11.6).
Bhs buildTaskManagementResponse(uint32_t itt, uint8_t response, const SequenceNumbers& sn);

// Login Response (11.13).
struct LoginResponseFields {
  bool transit = false;
  bool continueFlag = false;
  uint8_t currentStage = 0;
  uint8_t nextStage = 0;
  uint8_t versionMax = 0;
  uint8_t versionActive = 0;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;
  uint32_t itt = 0;
  uint8_t statusClass = 0;
  uint8_t statusDetail = 0;
  uint32_t dataSegmentLength = 0;
};
Bhs buildLoginResponse(const LoginResponseFields& fields, const SequenceNumbers& sn);

// Text Response (11.11).
struct TextResponseFields {
  bool finalFlag = true;
  bool continueFlag = false;
  std::array<uint8_t, 8> lun{};
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t dataSegmentLength = 0;
};
Bhs buildTextResponse(const TextResponseFields& fields, const SequenceNumbers& sn);

// Logout Response (11.15).
Bhs buildLogoutResponse(uint32_t itt, uint8_t response, uint16_t time2Wait, uint16_t time2Retain,
                        const SequenceNumbers& sn);

// Reject (11.17): the data segment is the rejected PDU's BHS. dataSnOrR2tSn only for
// reason 0x04/0x09 on a SNACK-related reject; zero otherwise.
Bhs buildReject(uint8_t reason, const SequenceNumbers& sn);

// Asynchronous Message (11.9).
struct AsyncMessageFields {
  std::array<uint8_t, 8> lun{};
  uint8_t asyncEvent = 0;
  uint8_t asyncVCode = 0;
  uint16_t parameter1 = 0;
  uint16_t parameter2 = 0;
  uint16_t parameter3 = 0;
  uint32_t dataSegmentLength = 0;
};
Bhs buildAsyncMessage(const AsyncMessageFields& fields, const SequenceNumbers& sn);

// Reject reasons (RFC 7143 11.17.1).
enum RejectReason : uint8_t {
  kRejectDataDigestError = 0x02,
  kRejectSnackReject = 0x03,
  kRejectProtocolError = 0x04,
  kRejectCommandNotSupported = 0x05,
  kRejectImmediateCommandRejected = 0x06,
  kRejectTaskInProgress = 0x07,
  kRejectInvalidDataAck = 0x08,
  kRejectInvalidPduField = 0x09,
  kRejectLongOperationReject = 0x0a,
  kRejectWaitingForLogout = 0x0c,
};

// Task management functions (11.5.1) and responses (11.6.1).
enum TaskFunction : uint8_t {
  kAbortTask = 1,
  kAbortTaskSet = 2,
  kClearAca = 3,
  kClearTaskSet = 4,
  kLogicalUnitReset = 5,
  kTargetWarmReset = 6,
  kTargetColdReset = 7,
  kTaskReassign = 8,
};
enum TaskResponse : uint8_t {
  kFunctionComplete = 0,
  kTaskDoesNotExist = 1,
  kLunDoesNotExist = 2,
  kTaskStillAllegiant = 3,
  kTaskReassignNotSupported = 4,
  kFunctionNotSupported = 5,
  kFunctionAuthorizationFailed = 6,
  kFunctionRejected = 255,
};

// Serial number arithmetic (RFC 1982, required by RFC 7143 4.2.2.1 for CmdSN/StatSN).
inline bool serialLess(uint32_t a, uint32_t b) { return a != b && uint32_t(b - a) < 0x80000000u; }
inline bool serialLessOrEqual(uint32_t a, uint32_t b) { return a == b || serialLess(a, b); }

}  // namespace lanboot::iscsi
