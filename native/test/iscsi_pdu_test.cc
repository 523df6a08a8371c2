// PDU codec (native/src/iscsi/pdu.*) against literal byte arrays laid out as in the
// RFC 7143 section 11 diagrams.
#include <cstdio>
#include <cstring>
#include <vector>

#include "iscsi/pdu.h"
#include "check.h"


using namespace lanboot::iscsi;

static Bhs bhsOf(std::initializer_list<std::pair<size_t, uint8_t>> bytes) {
  Bhs b{};
  for (auto [offset, value] : bytes) b[offset] = value;
  return b;
}

static void testNopOut() {
  // 11.18: I=1, opcode 0, F=1, DataSegmentLength 4, LUN 0, ITT 0x11223344, TTT ffffffff,
  // CmdSN 5, ExpStatSN 7.
  const uint8_t bytes[48] = {0x40, 0x80, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
                             0x11, 0x22, 0x33, 0x44, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 5, 0, 0, 0, 7};
  InitiatorHeader h;
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kNopOut);
  CHECK(h.immediate);
  CHECK(h.finalFlag);
  CHECK(h.dataSegmentLength == 4);
  CHECK(h.initiatorTaskTag == 0x11223344);
  CHECK(h.targetTransferTag == kReservedTag);
  CHECK(h.cmdSn == 5);
  CHECK(h.expStatSn == 7);
  // F bit clear: invalid (11.18.1 says F is always 1).
  uint8_t noFinal[48];
  std::memcpy(noFinal, bytes, 48);
  noFinal[1] = 0;
  CHECK(parseInitiatorHeader(noFinal, &h) == PduError::kInvalidField);
}

static void testScsiCommand() {
  // READ(10) LBA 0x1000, 8 blocks; R bit, simple task; EDTL 4096; CmdSN 0x0a0b0c0d.
  uint8_t bytes[48] = {0x01, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0xde, 0xad, 0xbe, 0xef, 0, 0, 0x10, 0x00, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 9,
                       0x28, 0, 0, 0, 0x10, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0};
  InitiatorHeader h;
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kScsiCommand);
  CHECK(!h.immediate);
  CHECK(h.finalFlag && h.readFlag && !h.writeFlag);
  CHECK(h.taskAttribute == 1);
  CHECK(h.expectedDataTransferLength == 4096);
  CHECK(h.cmdSn == 0x0a0b0c0d);
  CHECK(h.expStatSn == 9);
  CHECK(h.initiatorTaskTag == 0xdeadbeef);
  CHECK(h.cdb[0] == 0x28 && h.cdb[4] == 0x10 && h.cdb[8] == 8);
  // Immediate data on a command without the W bit is not allowed.
  bytes[7] = 8;
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kInvalidField);
  bytes[1] = 0xa1;  // W instead of R
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kNone);
  CHECK(h.writeFlag && !h.readFlag && h.dataSegmentLength == 8);
}

static void testLogin() {
  // 11.12: I=1 opcode 3, T=1 CSG=0 NSG=1, version 0/0, ISID 80 12 34 56 00 00, TSIH 0,
  // ITT 1, CID 1, CmdSN 0x100, ExpStatSN 0.
  uint8_t bytes[48] = {0x43, 0x81, 0, 0, 0, 0, 0x01, 0x00, 0x80, 0x12, 0x34, 0x56, 0, 0, 0, 0,
                       0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
  InitiatorHeader h;
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kLoginRequest);
  CHECK(h.transit && !h.continueFlag);
  CHECK(h.currentStage == 0 && h.nextStage == 1);
  CHECK(h.isid[0] == 0x80 && h.isid[3] == 0x56);
  CHECK(h.tsih == 0 && h.connectionId == 1 && h.cmdSn == 0x100);
  CHECK(h.dataSegmentLength == 256);
  bytes[1] = 0xc1;  // T and C together (11.12.2)
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kInvalidField);
  bytes[1] = 0x89;  // CSG=2 is reserved
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kInvalidField);
  bytes[1] = 0x84;  // T=1 from stage 1 back to stage 0
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kInvalidField);
  bytes[1] = 0x87;  // stage 1 -> full feature phase
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kNone);
  CHECK(h.currentStage == 1 && h.nextStage == 3);
  bytes[4] = 1;  // login PDUs carry no AHS
  CHECK(parseInitiatorHeader(bytes, &h) == PduError::kInvalidField);
}

static void testOtherInitiatorPdus() {
  InitiatorHeader h;
  // TMF ABORT TASK (11.5): function 1, RTT 0x55, RefCmdSN 3, ExpDataSN 0.
  Bhs tmf = bhsOf({{0, 0x42}, {1, 0x81}, {19, 0x07}, {23, 0x55}, {27, 4}, {35, 3}});
  CHECK(parseInitiatorHeader(tmf.data(), &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kTaskManagementRequest && h.taskFunction == kAbortTask);
  CHECK(h.referencedTaskTag == 0x55 && h.refCmdSn == 3 && h.cmdSn == 4 && h.initiatorTaskTag == 7);
  // Data-Out (11.7): F, TTT 9, DataSN 2, offset 0x2000.
  Bhs dataOut = bhsOf({{0, 0x05}, {1, 0x80}, {7, 0x10}, {19, 1}, {23, 9}, {39, 2}, {42, 0x20}});
  CHECK(parseInitiatorHeader(dataOut.data(), &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kDataOut && h.finalFlag && h.targetTransferTag == 9 && h.dataSn == 2);
  CHECK(h.bufferOffset == 0x2000 && h.dataSegmentLength == 16);
  // Logout (11.14): reason 1 (close connection), CID 3.
  Bhs logout = bhsOf({{0, 0x46}, {1, 0x81}, {21, 3}});
  CHECK(parseInitiatorHeader(logout.data(), &h) == PduError::kNone);
  CHECK(h.opcode == Opcode::kLogoutRequest && h.logoutReason == 1 && h.connectionId == 3);
  // Text with both F and C (11.10.1 forbids).
  Bhs text = bhsOf({{0, 0x04}, {1, 0xc0}});
  CHECK(parseInitiatorHeader(text.data(), &h) == PduError::kInvalidField);
  text[1] = 0x40;
  CHECK(parseInitiatorHeader(text.data(), &h) == PduError::kNone);
  CHECK(h.continueFlag && !h.finalFlag);
  // SNACK (11.16): type 1, BegRun 4, RunLength 2.
  Bhs snack = bhsOf({{0, 0x10}, {1, 0x81}, {43, 4}, {47, 2}});
  CHECK(parseInitiatorHeader(snack.data(), &h) == PduError::kNone);
  CHECK(h.snackType == 1 && h.beginRun == 4 && h.runLength == 2);
  // Unknown and target opcodes.
  for (uint8_t opcode : {0x07, 0x1c, 0x1e, 0x21, 0x25, 0x3f}) {
    Bhs unknown = bhsOf({{0, opcode}, {1, 0x80}});
    CHECK(parseInitiatorHeader(unknown.data(), &h) == PduError::kUnknownOpcode);
  }
}

static void testAhs() {
  AdditionalHeaders ahs;
  // Extended CDB (11.2.2.3): a 32-byte CDB -> AHSLength 17, reserved byte, 16 more CDB bytes.
  std::vector<uint8_t> ext = {0x00, 0x11, 0x01, 0x00};
  for (int i = 0; i < 16; ++i) ext.push_back(uint8_t(0xa0 + i));
  CHECK(parseAdditionalHeaders(ext.data(), ext.size(), &ahs) == PduError::kNone);
  CHECK(ahs.extendedCdb.size() == 16 && ahs.extendedCdb[0] == 0xa0 && ahs.extendedCdb[15] == 0xaf);
  // Bidirectional read length (11.2.2.4).
  const uint8_t bidi[8] = {0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00};
  CHECK(parseAdditionalHeaders(bidi, 8, &ahs) == PduError::kNone);
  CHECK(ahs.hasBidiReadLength && ahs.bidiReadLength == 0x10000);
  // Both, one after the other.
  std::vector<uint8_t> both = ext;
  both.insert(both.end(), bidi, bidi + 8);
  CHECK(parseAdditionalHeaders(both.data(), both.size(), &ahs) == PduError::kNone);
  CHECK(ahs.extendedCdb.size() == 16 && ahs.hasBidiReadLength);
  // Garbage: unknown type, zero length, length past the end, not a multiple of 4, duplicates.
  const uint8_t unknownType[4] = {0x00, 0x01, 0x09, 0x00};
  CHECK(parseAdditionalHeaders(unknownType, 4, &ahs) == PduError::kBadAhs);
  const uint8_t zeroLength[4] = {0x00, 0x00, 0x01, 0x00};
  CHECK(parseAdditionalHeaders(zeroLength, 4, &ahs) == PduError::kBadAhs);
  const uint8_t tooLong[8] = {0x00, 0xff, 0x01, 0x00, 1, 2, 3, 4};
  CHECK(parseAdditionalHeaders(tooLong, 8, &ahs) == PduError::kBadAhs);
  CHECK(parseAdditionalHeaders(bidi, 7, &ahs) == PduError::kBadAhs);
  const uint8_t bidiWrongLength[8] = {0x00, 0x04, 0x02, 0x00, 0, 0, 0, 0};
  CHECK(parseAdditionalHeaders(bidiWrongLength, 8, &ahs) == PduError::kBadAhs);
  uint8_t twice[16];
  std::memcpy(twice, bidi, 8);
  std::memcpy(twice + 8, bidi, 8);
  CHECK(parseAdditionalHeaders(twice, 16, &ahs) == PduError::kBadAhs);
}

static void testLun() {
  CHECK(decodeLun({0, 5, 0, 0, 0, 0, 0, 0}) == 5);
  CHECK(decodeLun({0x40, 0x01, 0, 0, 0, 0, 0, 0}) == 1);
  CHECK(decodeLun({0x41, 0x02, 0, 0, 0, 0, 0, 0}) == 0x102);
  CHECK(decodeLun({0x80, 0, 0, 0, 0, 0, 0, 0}) == kInvalidLun);  // logical unit addressing
  CHECK(decodeLun({0x01, 0, 0, 0, 0, 0, 0, 0}) == kInvalidLun);  // bus 1
  CHECK(decodeLun({0, 0, 0, 0, 0, 0, 0, 1}) == kInvalidLun);     // second level
  CHECK(decodeLun(encodeLun(0)) == 0);
  CHECK(decodeLun(encodeLun(300)) == 300);
}

static void testBuilders() {
  SequenceNumbers sn{0x10, 0x20, 0x5f};
  // Data-In with phase-collapsed GOOD status and underflow (11.7).
  DataInFields in;
  in.itt = 0x1234;
  in.lun = encodeLun(0);
  in.finalFlag = true;
  in.statusPresent = true;
  in.residualUnderflow = true;
  in.residualCount = 512;
  in.dataSn = 3;
  in.bufferOffset = 0x3000;
  in.dataSegmentLength = 0x1000;
  Bhs b = buildDataIn(in, sn);
  CHECK(b[0] == 0x25 && b[1] == 0x83 && b[3] == 0);
  CHECK(b[5] == 0 && b[6] == 0x10 && b[7] == 0);
  CHECK(b[16] == 0 && b[17] == 0 && b[18] == 0x12 && b[19] == 0x34);
  CHECK(b[20] == 0xff && b[23] == 0xff);  // TTT reserved
  CHECK(b[27] == 0x10 && b[31] == 0x20 && b[35] == 0x5f);
  CHECK(b[39] == 3 && b[42] == 0x30 && b[46] == 0x02 && b[47] == 0x00);
  // Without status: no S, no StatSN, no residual.
  in.statusPresent = false;
  in.finalFlag = false;
  b = buildDataIn(in, sn);
  CHECK(b[1] == 0x00 && b[27] == 0 && b[47] == 0 && b[46] == 0);
  // SCSI Response with CHECK CONDITION and overflow (11.4).
  ScsiResponseFields rsp;
  rsp.itt = 7;
  rsp.status = 0x02;
  rsp.residualOverflow = true;
  rsp.residualCount = 100;
  rsp.expDataSn = 2;
  rsp.dataSegmentLength = 20;
  b = buildScsiResponse(rsp, sn);
  CHECK(b[0] == 0x21 && b[1] == 0x84 && b[2] == 0 && b[3] == 2 && b[7] == 20);
  CHECK(b[19] == 7 && b[27] == 0x10 && b[39] == 2 && b[47] == 100);
  // R2T (11.8).
  R2tFields r2t;
  r2t.itt = 1;
  r2t.ttt = 2;
  r2t.r2tSn = 3;
  r2t.bufferOffset = 0x10000;
  r2t.desiredLength = 0x40000;
  b = buildR2t(r2t, sn);
  CHECK(b[0] == 0x31 && b[1] == 0x80 && b[19] == 1 && b[23] == 2 && b[39] == 3);
  CHECK(b[41] == 0x01 && b[45] == 0x04 && b[27] == 0x10);
  // Login Response T=1 CSG=1 NSG=3, status 0201 (11.13).
  LoginResponseFields login;
  login.transit = true;
  login.currentStage = 1;
  login.nextStage = 3;
  login.isid = {0x80, 1, 2, 3, 4, 5};
  login.tsih = 0x0102;
  login.itt = 9;
  login.statusClass = 2;
  login.statusDetail = 1;
  b = buildLoginResponse(login, sn);
  CHECK(b[0] == 0x23 && b[1] == 0x87 && b[8] == 0x80 && b[13] == 5 && b[14] == 1 && b[15] == 2);
  CHECK(b[36] == 2 && b[37] == 1 && b[19] == 9);
  // Text Response continuing (11.11).
  TextResponseFields text;
  text.finalFlag = false;
  text.continueFlag = true;
  text.itt = 4;
  text.ttt = 5;
  text.dataSegmentLength = 8192;
  b = buildTextResponse(text, sn);
  CHECK(b[0] == 0x24 && b[1] == 0x40 && b[6] == 0x20 && b[23] == 5);
  // Reject carries the rejected BHS (48 bytes) (11.17).
  b = buildReject(kRejectProtocolError, sn);
  CHECK(b[0] == 0x3f && b[1] == 0x80 && b[2] == 4 && b[7] == 48 && b[16] == 0xff);
  // Logout Response (11.15).
  b = buildLogoutResponse(3, 0, 2, 20, sn);
  CHECK(b[0] == 0x26 && b[1] == 0x80 && b[19] == 3 && b[41] == 2 && b[43] == 20);
  // NOP-In answer (11.19).
  b = buildNopIn(6, kReservedTag, encodeLun(0), sn, 4);
  CHECK(b[0] == 0x20 && b[1] == 0x80 && b[7] == 4 && b[19] == 6 && b[20] == 0xff);
  // TMF Response (11.6).
  b = buildTaskManagementResponse(8, kFunctionNotSupported, sn);
  CHECK(b[0] == 0x22 && b[1] == 0x80 && b[2] == 5 && b[19] == 8);
  // Async message (11.9): event 1 = target requests logout.
  AsyncMessageFields async;
  async.asyncEvent = 1;
  async.parameter3 = 5;
  b = buildAsyncMessage(async, sn);
  CHECK(b[0] == 0x32 && b[36] == 1 && b[43] == 5 && b[16] == 0xff);
}

static void testSerialArithmetic() {
  CHECK(serialLess(1, 2));
  CHECK(!serialLess(2, 1));
  CHECK(serialLess(0xffffffff, 0));  // wraps (RFC 1982)
  CHECK(!serialLess(5, 5));
  CHECK(serialLessOrEqual(5, 5));
  CHECK(paddingFor(0) == 0 && paddingFor(1) == 3 && paddingFor(4) == 0 && paddingFor(7) == 1);
}

int main() {
  testNopOut();
  testScsiCommand();
  testLogin();
  testOtherInitiatorPdus();
  testAhs();
  testLun();
  testBuilders();
  testSerialArithmetic();
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
