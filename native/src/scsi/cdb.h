// Pure CDB decoder for the disk LUN: bytes in, a DecodedCdb out, no I/O and no device state.
// Every field is read through a bounds check against the CDB length the transport gave us;
// a CDB shorter than its opcode's group requires is an error, never an out-of-bounds read.
//
// Field layouts: SBC-3 (T10/BSR INCITS 514) section 5, SPC-4 (T10/BSR INCITS 513) section 6.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lanboot::scsi {

// Operation codes (SPC-4 / SBC-3 command tables).
namespace op {
constexpr uint8_t kTestUnitReady = 0x00;
constexpr uint8_t kRequestSense = 0x03;
constexpr uint8_t kRead6 = 0x08;
constexpr uint8_t kWrite6 = 0x0A;
constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kModeSelect6 = 0x15;
constexpr uint8_t kModeSense6 = 0x1A;
constexpr uint8_t kStartStopUnit = 0x1B;
constexpr uint8_t kPreventAllowMediumRemoval = 0x1E;
constexpr uint8_t kReadCapacity10 = 0x25;
constexpr uint8_t kRead10 = 0x28;
constexpr uint8_t kWrite10 = 0x2A;
constexpr uint8_t kWriteAndVerify10 = 0x2E;
constexpr uint8_t kVerify10 = 0x2F;
constexpr uint8_t kPreFetch10 = 0x34;
constexpr uint8_t kSynchronizeCache10 = 0x35;
constexpr uint8_t kReadDefectData10 = 0x37;
constexpr uint8_t kWriteSame10 = 0x41;
constexpr uint8_t kUnmap = 0x42;
constexpr uint8_t kModeSelect10 = 0x55;
constexpr uint8_t kModeSense10 = 0x5A;
constexpr uint8_t kRead16 = 0x88;
constexpr uint8_t kCompareAndWrite = 0x89;
constexpr uint8_t kWrite16 = 0x8A;
constexpr uint8_t kWriteAndVerify16 = 0x8E;
constexpr uint8_t kVerify16 = 0x8F;
constexpr uint8_t kPreFetch16 = 0x90;
constexpr uint8_t kSynchronizeCache16 = 0x91;
constexpr uint8_t kWriteSame16 = 0x93;
constexpr uint8_t kServiceActionIn16 = 0x9E;
constexpr uint8_t kReportLuns = 0xA0;
constexpr uint8_t kMaintenanceIn = 0xA3;
constexpr uint8_t kRead12 = 0xA8;
constexpr uint8_t kWrite12 = 0xAA;
constexpr uint8_t kWriteAndVerify12 = 0xAE;
constexpr uint8_t kVerify12 = 0xAF;
constexpr uint8_t kReadDefectData12 = 0xB7;
// Service actions.
constexpr uint8_t kSaReadCapacity16 = 0x10;          // SERVICE ACTION IN(16)
constexpr uint8_t kSaGetLbaStatus = 0x12;            // SERVICE ACTION IN(16)
constexpr uint8_t kSaReportSupportedOpcodes = 0x0C;  // MAINTENANCE IN
}  // namespace op

enum class CdbKind : uint8_t {
  kUnsupported = 0,
  kTestUnitReady,
  kRequestSense,
  kInquiry,
  kReadCapacity10,
  kReadCapacity16,
  kGetLbaStatus,
  kRead,
  kWrite,
  kWriteAndVerify,
  kVerify,
  kWriteSame,
  kUnmap,
  kSynchronizeCache,
  kModeSense,
  kReportLuns,
  kStartStopUnit,
  kPreventAllowMediumRemoval,
  kPreFetch,
  kReportSupportedOpcodes,
  kReadDefectData,
  kCompareAndWrite,
};

enum class CdbError : uint8_t {
  kNone = 0,
  kInvalidOpcode,  // ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (20h/00h)
  kInvalidField,   // ILLEGAL REQUEST / INVALID FIELD IN CDB (24h/00h), see fieldByte/fieldBit
};

struct DecodedCdb {
  uint8_t opcode = 0;
  uint8_t serviceAction = 0;
  uint8_t cdbSize = 0;  // 6, 10, 12 or 16 (the opcode group's size)
  CdbKind kind = CdbKind::kUnsupported;

  uint64_t lba = 0;
  uint32_t blocks = 0;             // transfer / verification / write same / sync length (blocks)
  uint32_t allocationLength = 0;   // Data-In limit (INQUIRY, MODE SENSE, REPORT LUNS, ...)
  uint32_t parameterListLength = 0;  // Data-Out bytes (UNMAP)

  bool fua = false;
  bool dpo = false;
  uint8_t bytchk = 0;   // VERIFY / WRITE AND VERIFY: 0 none, 1 compare each block, 3 one block for all
  bool unmap = false;   // WRITE SAME
  bool ndob = false;    // WRITE SAME(16): no data-out buffer, write zeros
  bool anchor = false;
  bool immed = false;
  bool evpd = false;    // INQUIRY
  uint8_t pageCode = 0;     // INQUIRY VPD page / MODE SENSE page
  uint8_t subpageCode = 0;  // MODE SENSE
  uint8_t pageControl = 0;  // MODE SENSE: 0 current, 1 changeable, 2 default, 3 saved
  bool dbd = false;         // MODE SENSE: no block descriptors
  bool llbaa = false;       // MODE SENSE(10): long LBA block descriptor
  bool pmi = false;         // READ CAPACITY(10)
  bool desc = false;        // REQUEST SENSE: descriptor format asked
  uint8_t selectReport = 0; // REPORT LUNS
  uint8_t reportingOptions = 0;  // REPORT SUPPORTED OPERATION CODES
  bool rctd = false;             // REPORT SUPPORTED OPERATION CODES
  uint8_t requestedOpcode = 0;
  uint16_t requestedServiceAction = 0;
  bool start = false;       // START STOP UNIT
  bool loej = false;
  uint8_t powerCondition = 0;
  uint8_t prevent = 0;      // PREVENT ALLOW MEDIUM REMOVAL

  // Where the offending field is, for the sense-key specific field pointer (SPC-4 4.5.2.4.2).
  CdbError error = CdbError::kNone;
  uint16_t fieldByte = 0;
  uint8_t fieldBit = 0;
  bool fieldBitValid = false;
};

// The opcode group's CDB size (SPC-4 4.2.5.1): 0 when the group is reserved/vendor specific.
size_t cdbSizeForOpcode(uint8_t opcode);

// Length of a CDB that arrives in a fixed field of `fieldLength` bytes (the iSCSI BHS carries
// 16, RFC 7143 11.3.5): the opcode group's size, or the whole field for the variable-length
// and vendor-specific groups, which say their length elsewhere.
size_t cdbLengthInField(uint8_t opcode, size_t fieldLength);

// Decodes `cdb` (length bytes). Returns the decoded fields; `error` says why it was refused.
// Field values are range-checked only as far as the CDB alone allows; checks that need the
// device (LBA past the end) are the executor's.
DecodedCdb decodeCdb(const uint8_t* cdb, size_t length);

// Data-Out bytes this CDB asks for with `blockSize`-byte blocks (0 for none/unknown).
uint64_t dataOutBytes(const DecodedCdb& decoded, uint32_t blockSize);

// TRANSFER LENGTH in blocks of a WRITE or WRITE AND VERIFY CDB (6, 10, 12, 16; SBC-3 section 5),
// 0 for any other CDB or one decodeCdb refuses.
uint32_t writeTransferBlocks(const uint8_t* cdb, size_t length);

// Rewrites that TRANSFER LENGTH to `blocks`. False for any other CDB, a CDB shorter than its
// opcode group, or `blocks` the field cannot hold (WRITE(6): 1..256, with 256 sent as 0).
bool setWriteTransferBlocks(uint8_t* cdb, size_t length, uint32_t blocks);

}  // namespace lanboot::scsi
