#include "scsi/cdb.h"

#include <algorithm>

#include "common/byte_order.h"

namespace lanboot::scsi {
namespace {

// Fields are read only after decodeCdb checked the CDB against its opcode group's size.
using common::loadBe16;
using common::loadBe32;
using common::loadBe64;

void invalidField(DecodedCdb& d, uint16_t byte, int bit = -1) {
  if (d.error != CdbError::kNone) return;  // the first problem found is the one reported
  d.error = CdbError::kInvalidField;
  d.fieldByte = byte;
  if (bit >= 0) {
    d.fieldBit = static_cast<uint8_t>(bit);
    d.fieldBitValid = true;
  }
}

// RDPROTECT / WRPROTECT / VRPROTECT (byte 1 bits 7-5): we report no protection information
// support (INQUIRY PROTECT=0), so SBC-3 5.11 requires INVALID FIELD IN CDB for non-zero.
void rejectProtect(DecodedCdb& d, const uint8_t* c) {
  if ((c[1] & 0xE0) != 0) invalidField(d, 1, 7);
}

void decodeReadWrite(DecodedCdb& d, const uint8_t* c) {
  switch (d.cdbSize) {
    case 6:
      // READ(6)/WRITE(6): 21-bit LBA; TRANSFER LENGTH 0 means 256 blocks (SBC-3 5.15).
      d.lba = (uint64_t{c[1] & 0x1Fu} << 16) | (uint64_t{c[2]} << 8) | c[3];
      d.blocks = c[4] == 0 ? 256 : c[4];
      return;
    case 10:
      d.lba = loadBe32(c + 2);
      d.blocks = loadBe16(c + 7);
      break;
    case 12:
      d.lba = loadBe32(c + 2);
      d.blocks = loadBe32(c + 6);
      break;
    default:
      d.lba = loadBe64(c + 2);
      d.blocks = loadBe32(c + 10);
      break;
  }
  rejectProtect(d, c);
  d.dpo = c[1] & 0x10;
  d.fua = c[1] & 0x08;
}

void decodeVerifyLike(DecodedCdb& d, const uint8_t* c) {
  decodeReadWrite(d, c);
  d.fua = false;
  // BYTCHK is bits 2-1 in SBC-4 (bit 1 alone in SBC-3): 00b medium only, 01b compare each
  // block, 10b reserved, 11b one Data-Out block compared with every block (VERIFY only).
  d.bytchk = static_cast<uint8_t>((c[1] >> 1) & 0x03);
  if (d.bytchk == 2 || (d.bytchk == 3 && d.kind != CdbKind::kVerify)) invalidField(d, 1, 2);
}

void decodeWriteSame(DecodedCdb& d, const uint8_t* c) {
  if (d.cdbSize == 10) {
    d.lba = loadBe32(c + 2);
    d.blocks = loadBe16(c + 7);
  } else {
    d.lba = loadBe64(c + 2);
    d.blocks = loadBe32(c + 10);
    d.ndob = c[1] & 0x01;
  }
  rejectProtect(d, c);
  d.anchor = c[1] & 0x10;
  d.unmap = c[1] & 0x08;
  // PBDATA / LBDATA (bits 2-1) ask for generated block contents we do not support.
  if ((c[1] & 0x06) != 0) invalidField(d, 1, 2);
}

void decodeSyncOrPrefetch(DecodedCdb& d, const uint8_t* c) {
  if (d.cdbSize == 10) {
    d.lba = loadBe32(c + 2);
    d.blocks = loadBe16(c + 7);
  } else {
    d.lba = loadBe64(c + 2);
    d.blocks = loadBe32(c + 10);
  }
  d.immed = c[1] & 0x02;
}

}  // namespace

size_t cdbSizeForOpcode(uint8_t opcode) {
  switch (opcode >> 5) {  // SPC-4 4.2.5.1 group code
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 0;  // group 3 reserved / variable length, groups 6-7 vendor specific
  }
}

size_t cdbLengthInField(uint8_t opcode, size_t fieldLength) {
  const size_t size = cdbSizeForOpcode(opcode);
  return size == 0 ? fieldLength : std::min(size, fieldLength);
}

DecodedCdb decodeCdb(const uint8_t* c, size_t length) {
  DecodedCdb d;
  if (c == nullptr || length == 0) {
    d.error = CdbError::kInvalidOpcode;
    return d;
  }
  d.opcode = c[0];
  d.cdbSize = static_cast<uint8_t>(cdbSizeForOpcode(d.opcode));
  switch (d.opcode) {
    case op::kTestUnitReady: d.kind = CdbKind::kTestUnitReady; break;
    case op::kRequestSense: d.kind = CdbKind::kRequestSense; break;
    case op::kInquiry: d.kind = CdbKind::kInquiry; break;
    case op::kReadCapacity10: d.kind = CdbKind::kReadCapacity10; break;
    case op::kRead6: case op::kRead10: case op::kRead12: case op::kRead16: d.kind = CdbKind::kRead; break;
    case op::kWrite6: case op::kWrite10: case op::kWrite12: case op::kWrite16: d.kind = CdbKind::kWrite; break;
    case op::kWriteAndVerify10: case op::kWriteAndVerify12: case op::kWriteAndVerify16:
      d.kind = CdbKind::kWriteAndVerify;
      break;
    case op::kVerify10: case op::kVerify12: case op::kVerify16: d.kind = CdbKind::kVerify; break;
    case op::kCompareAndWrite: d.kind = CdbKind::kCompareAndWrite; break;
    case op::kWriteSame10: case op::kWriteSame16: d.kind = CdbKind::kWriteSame; break;
    case op::kUnmap: d.kind = CdbKind::kUnmap; break;
    case op::kSynchronizeCache10: case op::kSynchronizeCache16: d.kind = CdbKind::kSynchronizeCache; break;
    case op::kModeSense6: case op::kModeSense10: d.kind = CdbKind::kModeSense; break;
    case op::kReportLuns: d.kind = CdbKind::kReportLuns; break;
    case op::kStartStopUnit: d.kind = CdbKind::kStartStopUnit; break;
    case op::kPreventAllowMediumRemoval: d.kind = CdbKind::kPreventAllowMediumRemoval; break;
    case op::kPreFetch10: case op::kPreFetch16: d.kind = CdbKind::kPreFetch; break;
    case op::kReadDefectData10: case op::kReadDefectData12: d.kind = CdbKind::kReadDefectData; break;
    case op::kServiceActionIn16: case op::kMaintenanceIn: break;  // decided by the service action
    default:
      d.error = CdbError::kInvalidOpcode;
      return d;
  }
  if (d.cdbSize == 0 || length < d.cdbSize) {
    // The transport delivered fewer bytes than this opcode's CDB has.
    invalidField(d, static_cast<uint16_t>(length > 0 ? length - 1 : 0));
    return d;
  }
  // CONTROL byte (SAM-5 5.2): NACA (bit 2) is unsupported, LINK (bit 0) is obsolete.
  const uint8_t control = c[d.cdbSize - 1];
  if (control & 0x04) invalidField(d, static_cast<uint16_t>(d.cdbSize - 1), 2);
  if (control & 0x01) invalidField(d, static_cast<uint16_t>(d.cdbSize - 1), 0);

  switch (d.opcode) {
    case op::kTestUnitReady:
      break;
    case op::kRequestSense:
      d.desc = c[1] & 0x01;
      d.allocationLength = c[4];
      break;
    case op::kInquiry:
      d.evpd = c[1] & 0x01;
      d.pageCode = c[2];
      d.allocationLength = loadBe16(c + 3);
      if (c[1] & 0x02) invalidField(d, 1, 1);                  // CMDDT (obsolete, SPC-4 6.6.1)
      else if (!d.evpd && d.pageCode != 0) invalidField(d, 2);  // page code needs EVPD=1
      break;
    case op::kReadCapacity10:
      d.lba = loadBe32(c + 2);
      d.pmi = c[8] & 0x01;
      if (!d.pmi && d.lba != 0) invalidField(d, 2);  // SBC-3 5.16.1
      break;
    case op::kServiceActionIn16:
      d.serviceAction = c[1] & 0x1F;
      if (d.serviceAction == op::kSaReadCapacity16) {
        d.kind = CdbKind::kReadCapacity16;
        d.lba = loadBe64(c + 2);
        d.allocationLength = loadBe32(c + 10);
        d.pmi = c[14] & 0x01;
      } else if (d.serviceAction == op::kSaGetLbaStatus) {
        d.kind = CdbKind::kGetLbaStatus;
        d.lba = loadBe64(c + 2);
        d.allocationLength = loadBe32(c + 10);
      } else {
        invalidField(d, 1, 4);
      }
      break;
    case op::kMaintenanceIn:
      d.serviceAction = c[1] & 0x1F;
      if (d.serviceAction == op::kSaReportSupportedOpcodes) {
        d.kind = CdbKind::kReportSupportedOpcodes;
        d.rctd = c[2] & 0x80;
        d.reportingOptions = c[2] & 0x07;
        d.requestedOpcode = c[3];
        d.requestedServiceAction = loadBe16(c + 4);
        d.allocationLength = loadBe32(c + 6);
        if (d.reportingOptions > 3) invalidField(d, 2, 2);
      } else {
        invalidField(d, 1, 4);
      }
      break;
    case op::kRead6: case op::kRead10: case op::kRead12: case op::kRead16:
    case op::kWrite6: case op::kWrite10: case op::kWrite12: case op::kWrite16:
      decodeReadWrite(d, c);
      break;
    case op::kWriteAndVerify10: case op::kWriteAndVerify12: case op::kWriteAndVerify16:
    case op::kVerify10: case op::kVerify12: case op::kVerify16:
      decodeVerifyLike(d, c);
      break;
    case op::kWriteSame10: case op::kWriteSame16:
      decodeWriteSame(d, c);
      break;
    case op::kCompareAndWrite:
      // SBC-3 5.2: NUMBER OF LOGICAL BLOCKS is one byte (13); Data-Out holds the verify
      // data then the write data, each that many blocks.
      rejectProtect(d, c);
      d.dpo = c[1] & 0x10;
      d.fua = c[1] & 0x08;
      d.lba = loadBe64(c + 2);
      d.blocks = c[13];
      break;
    case op::kUnmap:
      d.anchor = c[1] & 0x01;
      d.parameterListLength = loadBe16(c + 7);
      break;
    case op::kSynchronizeCache10: case op::kSynchronizeCache16:
    case op::kPreFetch10: case op::kPreFetch16:
      decodeSyncOrPrefetch(d, c);
      break;
    case op::kModeSense6: case op::kModeSense10:
      d.dbd = c[1] & 0x08;
      d.pageControl = static_cast<uint8_t>(c[2] >> 6);
      d.pageCode = c[2] & 0x3F;
      d.subpageCode = c[3];
      if (d.opcode == op::kModeSense6) {
        d.allocationLength = c[4];
      } else {
        d.llbaa = c[1] & 0x10;
        d.allocationLength = loadBe16(c + 7);
      }
      break;
    case op::kReportLuns:
      d.selectReport = c[2];
      d.allocationLength = loadBe32(c + 6);
      if (d.selectReport > 2) invalidField(d, 2);
      else if (d.allocationLength < 16) invalidField(d, 6);  // SPC-4 6.33
      break;
    case op::kStartStopUnit:
      d.immed = c[1] & 0x01;
      d.powerCondition = static_cast<uint8_t>(c[4] >> 4);
      d.loej = c[4] & 0x02;
      d.start = c[4] & 0x01;
      break;
    case op::kPreventAllowMediumRemoval:
      d.prevent = c[4] & 0x03;
      break;
    case op::kReadDefectData10:
      d.allocationLength = loadBe16(c + 7);
      break;
    case op::kReadDefectData12:
      d.allocationLength = loadBe32(c + 6);
      break;
    default:
      break;
  }
  return d;
}

uint64_t dataOutBytes(const DecodedCdb& d, uint32_t blockSize) {
  if (d.error != CdbError::kNone) return 0;
  switch (d.kind) {
    case CdbKind::kWrite:
    case CdbKind::kWriteAndVerify:
      return uint64_t{d.blocks} * blockSize;
    case CdbKind::kVerify:
      if (d.bytchk == 1) return uint64_t{d.blocks} * blockSize;
      if (d.bytchk == 3) return d.blocks != 0 ? blockSize : 0;
      return 0;
    case CdbKind::kWriteSame:
      return d.ndob ? 0 : blockSize;
    case CdbKind::kUnmap:
      return d.parameterListLength;
    case CdbKind::kCompareAndWrite:
      return uint64_t{d.blocks} * 2 * blockSize;
    default:
      return 0;
  }
}

uint32_t writeTransferBlocks(const uint8_t* cdb, size_t length) {
  const DecodedCdb d = decodeCdb(cdb, length);
  if (d.error != CdbError::kNone) return 0;
  return d.kind == CdbKind::kWrite || d.kind == CdbKind::kWriteAndVerify ? d.blocks : 0;
}

bool setWriteTransferBlocks(uint8_t* cdb, size_t length, uint32_t blocks) {
  if (cdb == nullptr || length == 0 || length < cdbSizeForOpcode(cdb[0])) return false;
  switch (cdb[0]) {
    case op::kWrite6:
      if (blocks == 0 || blocks > 256) return false;
      cdb[4] = static_cast<uint8_t>(blocks);  // 256 is sent as 0 (SBC-3 WRITE(6): 0 means 256)
      return true;
    case op::kWrite10:
    case op::kWriteAndVerify10:
      if (blocks > 0xFFFF) return false;
      common::storeBe16(cdb + 7, static_cast<uint16_t>(blocks));
      return true;
    case op::kWrite12:
    case op::kWriteAndVerify12:
      common::storeBe32(cdb + 6, blocks);
      return true;
    case op::kWrite16:
    case op::kWriteAndVerify16:
      common::storeBe32(cdb + 10, blocks);
      return true;
    default:
      return false;
  }
}

}  // namespace lanboot::scsi
