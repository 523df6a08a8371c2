// SCSI direct-access block device (SBC-3) over a CowStore: executes decoded CDBs.
// Decoding lives in scsi/cdb.cc (pure), sense building in scsi/sense.cc (pure); this file owns
// the device state (unit attentions) and talks to the store.
//
// Data-Out shorter than the CDB asks for (EDTL < TRANSFER LENGTH): we write only the whole
// blocks that arrived and return GOOD; the transport reports the residual overflow. This is
// what libiscsi's iscsi-test-cu expects (test_write10_residuals and siblings: "if iSCSI EDTL <
// SCSI TL then we only write iSCSI EDTL amount of data") and what LIO does. With EDTL larger
// than the CDB, only the CDB's blocks are written (residual underflow).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "common/byte_order.h"
#include "cow/store.h"
#include "scsi/cdb.h"
#include "scsi/disk_lun.h"
#include "scsi/lun.h"
#include "scsi/sense.h"

namespace lanboot::scsi {
namespace {

using namespace disk;

using common::loadBe16;
using common::loadBe32;
using common::loadBe64;
using common::storeBe16;
using common::storeBe32;
using common::storeBe64;

// Space-padded ASCII field (SPC-4 4.4.1: T10 strings are left-aligned, padded with spaces).
void putAscii(uint8_t* p, size_t width, const std::string& text) {
  std::memset(p, ' ', width);
  size_t n = std::min(width, text.size());
  for (size_t i = 0; i < n; ++i) {
    char ch = text[i];
    p[i] = static_cast<uint8_t>(ch >= 0x20 && ch < 0x7F ? ch : ' ');
  }
}

CommandResult good() { return CommandResult(); }

CommandResult invalidFieldInCdb(uint16_t byte, int bit = -1) {
  SenseDetails details;
  details.fieldPointerValid = true;
  details.fieldInCdb = true;
  details.fieldByte = byte;
  if (bit >= 0) {
    details.fieldBitValid = true;
    details.fieldBit = static_cast<uint8_t>(bit);
  }
  return checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCdb, details);
}

CommandResult invalidFieldInParameterList(uint16_t byte) {
  SenseDetails details;
  details.fieldPointerValid = true;
  details.fieldInCdb = false;
  details.fieldByte = byte;
  return checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInParameterList, details);
}

CommandResult lbaOutOfRange() { return checkCondition(sense_key::kIllegalRequest, asc::kLbaOutOfRange); }

CommandResult writeProtected() { return checkCondition(sense_key::kDataProtect, asc::kWriteProtected); }

// Store errors on the write path, mapped to SBC-3 sense (4.18 / Annex D). The seat's quota
// and a full data disk are the same to the initiator: no space could be allocated
// (SBC-3 4.7.3.6); the supervisor tells them apart (FaultReportingStore).
CommandResult writeFailure(int rc) {
  if (rc == kSeatQuotaExceeded || rc == -ENOSPC) return checkCondition(sense_key::kDataProtect, asc::kSpaceAllocationFailedWriteProtect);
  if (rc == -EROFS) return writeProtected();
  if (rc == -EINVAL) return lbaOutOfRange();
  return checkCondition(sense_key::kMediumError, asc::kWriteError);
}

CommandResult readFailure(int rc) {
  if (rc == -EINVAL) return lbaOutOfRange();
  return checkCondition(sense_key::kMediumError, asc::kUnrecoveredReadError);
}

// Clips Data-In to the CDB's ALLOCATION LENGTH (SPC-4 4.2.5.6).
CommandResult dataIn(std::vector<uint8_t> bytes, uint32_t allocationLength) {
  CommandResult result;
  if (bytes.size() > allocationLength) bytes.resize(allocationLength);
  result.data = std::move(bytes);
  return result;
}

class DiskLun final : public Lun {
 public:
  DiskLun(std::shared_ptr<CowStore> store, DiskIdentity identity)
      : store_(std::move(store)), identity_(std::move(identity)) {
    totalBlocks_ = store_->sizeBytes() / kLogicalBlockSize;
    naa_ = identity_.naa;
    if (naa_ == 0) {
      // No designator given: derive a stable one from the target name (FNV-1a), so the disk
      // still has the NAA designator Windows requires.
      uint64_t hash = 1469598103934665603ull;
      for (char ch : identity_.targetName + identity_.serial) hash = (hash ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
      naa_ = hash;
    }
    // NAA field = 5 (IEEE Registered, SPC-4 7.8.6.6.4): top nibble of the 8-byte designator.
    naa_ = (naa_ & 0x0FFFFFFFFFFFFFFFull) | 0x5000000000000000ull;
    if (identity_.serial.empty()) {
      char text[17];
      static const char kHex[] = "0123456789abcdef";
      for (int i = 0; i < 16; ++i) text[i] = kHex[(naa_ >> (60 - 4 * i)) & 0xF];
      text[16] = 0;
      identity_.serial = text;
    }
  }

  uint64_t dataOutLengthFromCdb(const uint8_t* cdb, size_t cdbLength) const override {
    DecodedCdb decoded = decodeCdb(cdb, cdbLength);
    return dataOutBytes(decoded, kLogicalBlockSize);
  }

  CommandResult execute(const CommandRequest& request) override {
    DecodedCdb d = decodeCdb(request.cdb, request.cdbLength);
    // Unit attention first (SAM-5 5.14): every command but INQUIRY, REPORT LUNS and REQUEST
    // SENSE reports it, once. REQUEST SENSE returns it as its data.
    bool uaExempt = d.error != CdbError::kInvalidOpcode &&
                    (d.kind == CdbKind::kInquiry || d.kind == CdbKind::kReportLuns || d.kind == CdbKind::kRequestSense);
    if (!uaExempt && takeUnitAttention(request.nexusId)) {
      return checkCondition(sense_key::kUnitAttention, asc::kBusDeviceResetFunctionOccurred);
    }
    if (d.error == CdbError::kInvalidOpcode) {
      SenseDetails details;
      details.fieldPointerValid = true;
      details.fieldByte = 0;
      return checkCondition(sense_key::kIllegalRequest, asc::kInvalidCommandOperationCode, details);
    }
    if (d.error == CdbError::kInvalidField) return invalidFieldInCdb(d.fieldByte, d.fieldBitValid ? d.fieldBit : -1);

    switch (d.kind) {
      case CdbKind::kTestUnitReady:
      case CdbKind::kPreventAllowMediumRemoval:  // not removable: nothing to lock
        return good();
      case CdbKind::kStartStopUnit:
        // Nothing spins, so START/STOP are no-ops; but the medium cannot be ejected: LOEJ=1
        // (honoured only with POWER CONDITION 0, SBC-3 5.25) is refused, as LIO does and
        // libiscsi's test_startstopunit_simple expects for a non-removable unit.
        if (d.powerCondition == 0 && d.loej) return invalidFieldInCdb(4, 1);
        return good();
      case CdbKind::kRequestSense: return requestSense(d, request.nexusId);
      case CdbKind::kInquiry: return inquiry(d);
      case CdbKind::kReadCapacity10: return readCapacity10();
      case CdbKind::kReadCapacity16: return readCapacity16(d);
      case CdbKind::kGetLbaStatus: return getLbaStatus(d);
      case CdbKind::kRead: return read(d);
      case CdbKind::kWrite:
      case CdbKind::kWriteAndVerify: return write(d, request);
      case CdbKind::kVerify: return verify(d, request);
      case CdbKind::kWriteSame: return writeSame(d, request);
      case CdbKind::kUnmap: return unmap(d, request);
      case CdbKind::kSynchronizeCache: return synchronizeCache(d);
      case CdbKind::kPreFetch:
        if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
        return good();
      case CdbKind::kModeSense: return modeSense(d);
      case CdbKind::kReportLuns: return reportLuns(d);
      case CdbKind::kReportSupportedOpcodes: return reportSupportedOpcodes(d);
      case CdbKind::kReadDefectData: return readDefectData(d);
      case CdbKind::kCompareAndWrite: return compareAndWrite(d, request);
      case CdbKind::kUnsupported: break;
    }
    return checkCondition(sense_key::kIllegalRequest, asc::kInvalidCommandOperationCode);
  }

  void logicalUnitReset(uint64_t fromNexusId) override {
    std::lock_guard<std::mutex> lock(nexusMutex_);
    // SAM-5 6.3.3: a LOGICAL UNIT RESET establishes a unit attention (BUS DEVICE RESET
    // FUNCTION OCCURRED) for every I_T nexus other than the one that asked for it.
    for (uint64_t nexus : nexuses_) {
      if (nexus != fromNexusId) pendingUnitAttention_.insert(nexus);
    }
    pendingUnitAttention_.erase(fromNexusId);
  }

  void nexusAdded(uint64_t nexusId) override {
    std::lock_guard<std::mutex> lock(nexusMutex_);
    nexuses_.insert(nexusId);
  }

  void nexusRemoved(uint64_t nexusId) override {
    std::lock_guard<std::mutex> lock(nexusMutex_);
    nexuses_.erase(nexusId);
    pendingUnitAttention_.erase(nexusId);
  }

  int flush() override { return store_->flush(); }

  // Zero-copy reads cannot report a failing block (the Data-In header is sent before the
  // file is read): this LUN reads through memory until it is made again (restart, or the
  // seat's target set again), and the store reports the fault.
  void noteReadFault(int error) override {
    readThroughMemory_.store(true, std::memory_order_relaxed);
    store_->noteReadFault(error);
  }

 private:
  // ---- helpers ----
  static uint16_t transferLengthByte(const DecodedCdb& d) {
    return d.cdbSize == 6 ? 4 : d.cdbSize == 10 ? 7 : d.cdbSize == 12 ? 6 : 10;
  }

  bool rangeOk(uint64_t lba, uint64_t blocks) const { return lba <= totalBlocks_ && blocks <= totalBlocks_ - lba; }

  bool takeUnitAttention(uint64_t nexusId) {
    std::lock_guard<std::mutex> lock(nexusMutex_);
    nexuses_.insert(nexusId);  // a transport that never called nexusAdded still gets tracked
    return pendingUnitAttention_.erase(nexusId) != 0;
  }

  // ---- commands ----
  CommandResult requestSense(const DecodedCdb& d, uint64_t nexusId) {
    // We keep no deferred errors (autosense carries every CHECK CONDITION), so the only
    // sense REQUEST SENSE can report is a pending unit attention; else NO SENSE.
    if (d.desc) return invalidFieldInCdb(1, 0);  // descriptor format not supported (SPC-4 6.39)
    std::vector<uint8_t> bytes;
    if (takeUnitAttention(nexusId))
      bytes = fixedSense(sense_key::kUnitAttention, asc::kBusDeviceResetFunctionOccurred);
    else
      bytes = fixedSense(sense_key::kNoSense, asc::kNoAdditionalSense);
    return dataIn(std::move(bytes), d.allocationLength);
  }

  CommandResult inquiry(const DecodedCdb& d) {
    if (!d.evpd) return dataIn(standardInquiry(), d.allocationLength);
    std::vector<uint8_t> page;
    switch (d.pageCode) {
      case 0x00: page = vpdSupportedPages(); break;
      case 0x80: page = vpdUnitSerial(); break;
      case 0x83: page = vpdDeviceIdentification(); break;
      case 0xB0: page = vpdBlockLimits(); break;
      case 0xB1: page = vpdBlockDeviceCharacteristics(); break;
      case 0xB2: page = vpdLogicalBlockProvisioning(); break;
      default: return invalidFieldInCdb(2);
    }
    return dataIn(std::move(page), d.allocationLength);
  }

  std::vector<uint8_t> standardInquiry() const {
    std::vector<uint8_t> b(74, 0);  // SPC-4 6.6.2, through the 8 version descriptors
    b[0] = 0x00;  // peripheral qualifier 0 (connected), device type 0 (direct access block)
    b[1] = 0x00;  // RMB=0: not removable
    b[2] = 0x06;  // VERSION: SPC-4
    b[3] = 0x12;  // HISUP=1, RESPONSE DATA FORMAT=2
    b[4] = static_cast<uint8_t>(b.size() - 5);  // ADDITIONAL LENGTH
    b[5] = 0x00;  // no SCCS/ACC/TPGS/3PC/PROTECT
    b[6] = 0x00;
    b[7] = 0x02;  // CMDQUE: full task management model
    putAscii(&b[8], 8, identity_.vendor);
    putAscii(&b[16], 16, identity_.product);
    putAscii(&b[32], 4, identity_.revision);
    // VERSION DESCRIPTORS (SPC-4 table 144): SAM-5, iSCSI, SPC-4, SBC-3.
    const uint16_t versions[] = {0x00A0, 0x0960, 0x0460, 0x04C0};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); ++i) storeBe16(&b[58 + 2 * i], versions[i]);
    return b;
  }

  static std::vector<uint8_t> vpdHeader(uint8_t pageCode, size_t payloadLength) {
    std::vector<uint8_t> b(4 + payloadLength, 0);
    b[0] = 0x00;  // peripheral qualifier / device type
    b[1] = pageCode;
    storeBe16(&b[2], static_cast<uint16_t>(payloadLength));
    return b;
  }

  std::vector<uint8_t> vpdSupportedPages() const {
    const uint8_t pages[] = {0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2};  // ascending (SPC-4 7.8.13)
    std::vector<uint8_t> b = vpdHeader(0x00, sizeof(pages));
    std::memcpy(&b[4], pages, sizeof(pages));
    return b;
  }

  std::vector<uint8_t> vpdUnitSerial() const {
    std::string serial = identity_.serial.substr(0, 251);
    std::vector<uint8_t> b = vpdHeader(0x80, serial.size());
    putAscii(&b[4], serial.size(), serial);
    return b;
  }

  std::vector<uint8_t> vpdDeviceIdentification() const {
    std::vector<uint8_t> designators;
    auto add = [&](uint8_t codeSetAndProtocol, uint8_t typeAndAssociation, const std::vector<uint8_t>& value) {
      designators.push_back(codeSetAndProtocol);
      designators.push_back(typeAndAssociation);
      designators.push_back(0);
      designators.push_back(static_cast<uint8_t>(value.size()));
      designators.insert(designators.end(), value.begin(), value.end());
    };
    // NAA IEEE Registered (type 3), binary, associated with the logical unit: the one
    // Windows insists on (its setup stops with bugcheck 0xF4 without it).
    std::vector<uint8_t> naa(8);
    storeBe64(naa.data(), naa_);
    add(0x01, 0x03, naa);
    // T10 vendor ID based (type 1), ASCII, logical unit: vendor + serial (Linux /dev/disk/by-id).
    std::string t10 = identity_.serial.substr(0, 64);
    std::vector<uint8_t> vendorId(8 + t10.size());
    putAscii(vendorId.data(), 8, identity_.vendor);
    putAscii(vendorId.data() + 8, t10.size(), t10);
    add(0x02, 0x01, vendorId);
    if (!identity_.targetName.empty()) {
      // SCSI name string (type 8), UTF-8, protocol iSCSI with PIV=1, associated with the
      // target device: NUL-terminated, padded to a multiple of 4 (SPC-4 7.8.6.11).
      std::string name = identity_.targetName.substr(0, 223);  // RFC 7143 4.2.7.1: 223 bytes max
      size_t length = (name.size() + 1 + 3) / 4 * 4;
      std::vector<uint8_t> value(length, 0);
      std::memcpy(value.data(), name.data(), name.size());
      add(0x53, 0x80 | 0x20 | 0x08, value);
    }
    std::vector<uint8_t> b = vpdHeader(0x83, designators.size());
    std::memcpy(&b[4], designators.data(), designators.size());
    return b;
  }

  std::vector<uint8_t> vpdBlockLimits() const {
    std::vector<uint8_t> b = vpdHeader(0xB0, 0x3C);  // SBC-3 6.6.4
    b[4] = 0x01;  // WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused
    b[5] = kMaxCompareAndWriteBlocks;  // MAXIMUM COMPARE AND WRITE LENGTH
    storeBe16(&b[6], kOptimalGranularityBlocks);
    storeBe32(&b[8], kMaxTransferBlocks);
    storeBe32(&b[12], kOptimalTransferBlocks);
    storeBe32(&b[16], kMaxPrefetchBlocks);
    storeBe32(&b[20], store_->readOnly() ? 0 : kMaxUnmapBlocks);
    storeBe32(&b[24], store_->readOnly() ? 0 : kMaxUnmapDescriptors);
    storeBe32(&b[28], kUnmapGranularityBlocks);
    storeBe32(&b[32], 0x80000000u);  // UGAVALID=1, UNMAP GRANULARITY ALIGNMENT 0
    storeBe64(&b[36], kMaxWriteSameBlocks);
    return b;
  }

  std::vector<uint8_t> vpdBlockDeviceCharacteristics() const {
    std::vector<uint8_t> b = vpdHeader(0xB1, 0x3C);  // SBC-3 6.6.2
    storeBe16(&b[4], 0x0001);  // MEDIUM ROTATION RATE: non-rotating medium (solid state)
    return b;
  }

  std::vector<uint8_t> vpdLogicalBlockProvisioning() const {
    std::vector<uint8_t> b = vpdHeader(0xB2, 4);  // SBC-3 6.6.5
    b[4] = 0x00;  // THRESHOLD EXPONENT: no thresholds
    // LBPU (UNMAP), LBPWS (WRITE SAME 16 with UNMAP), LBPWS10; LBPRZ=0 because an unmapped
    // block reads its golden data, not zeros; ANC_SUP=0; DP=0.
    // A read-only disk can unmap nothing: all zero there, matching B0's zero unmap limits
    // and READ CAPACITY(16) LBPME=0 (libiscsi Unmap.VPD / Inquiry.BlockLimits).
    b[5] = store_->readOnly() ? 0x00 : 0x80 | 0x40 | 0x20;
    b[6] = store_->readOnly() ? 0x00 : 0x02;  // PROVISIONING TYPE: thin provisioned
    return b;
  }

  CommandResult readCapacity10() const {
    std::vector<uint8_t> b(8, 0);
    uint64_t lastLba = totalBlocks_ - 1;
    // 0xFFFFFFFF tells the initiator to use READ CAPACITY(16) (SBC-3 5.16.2).
    storeBe32(&b[0], lastLba > 0xFFFFFFFEull ? 0xFFFFFFFFu : static_cast<uint32_t>(lastLba));
    storeBe32(&b[4], kLogicalBlockSize);
    CommandResult result;
    result.data = std::move(b);
    return result;
  }

  CommandResult readCapacity16(const DecodedCdb& d) const {
    std::vector<uint8_t> b(32, 0);  // SBC-3 5.16.2
    storeBe64(&b[0], totalBlocks_ - 1);
    storeBe32(&b[8], kLogicalBlockSize);
    b[12] = 0x00;                          // no protection information
    b[13] = kLogicalPerPhysicalExponent;   // 2^3 logical blocks per physical block
    b[14] = store_->readOnly() ? 0x00 : 0x80;  // LBPME; LBPRZ=0; LOWEST ALIGNED LBA 0
    return dataIn(std::move(b), d.allocationLength);
  }

  CommandResult getLbaStatus(const DecodedCdb& d) const {
    // SBC-3 5.7: one descriptor from the requested LBA to the end. Every block is backed
    // (by the delta or the golden image), so the status is always 0 = mapped.
    if (d.lba >= totalBlocks_) return lbaOutOfRange();
    std::vector<uint8_t> b(24, 0);
    storeBe32(&b[0], 20);  // PARAMETER DATA LENGTH: 4 + one 16-byte descriptor
    storeBe64(&b[8], d.lba);
    uint64_t remaining = totalBlocks_ - d.lba;
    storeBe32(&b[16], static_cast<uint32_t>(std::min<uint64_t>(remaining, 0xFFFFFFFFu)));
    b[20] = 0x00;
    return dataIn(std::move(b), d.allocationLength);
  }

  CommandResult read(const DecodedCdb& d) {
    // Checked before the range, as LIO does: a transfer we would never accept is a CDB error.
    if (d.blocks > kMaxReadBlocks) return invalidFieldInCdb(transferLengthByte(d));
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    CommandResult result;
    if (d.blocks == 0) return result;  // SBC-3 5.11: transfer length 0 is not an error
    const uint64_t offset = d.lba * kLogicalBlockSize;
    const uint64_t length = uint64_t{d.blocks} * kLogicalBlockSize;
    if (readThroughMemory_.load(std::memory_order_relaxed)) {
      // After a read fault: pread(2) reports the failing block's EIO before any Data-In is
      // sent, so the initiator gets MEDIUM ERROR / UNRECOVERED READ ERROR (SBC-4 4.18).
      result.data.resize(length);
      int rc = store_->read(offset, length, result.data.data());
      if (rc != 0) return readFailure(rc);
      return result;
    }
    int rc = store_->readExtents(offset, length, result.extents);
    if (rc != 0) return readFailure(rc);
    return result;
  }

  // Whole blocks of Data-Out available for a command that asked for `blocks` (see the note
  // at the top of this file on EDTL disagreeing with the CDB).
  static uint64_t receivedBlocks(const CommandRequest& request, uint32_t blocks) {
    uint64_t available = request.dataOut == nullptr ? 0 : request.dataOutLength / kLogicalBlockSize;
    return std::min<uint64_t>(available, blocks);
  }

  CommandResult write(const DecodedCdb& d, const CommandRequest& request) {
    // Checked before the range, as LIO does: a transfer we would never accept is a CDB error.
    if (d.blocks > kMaxTransferBlocks) return invalidFieldInCdb(transferLengthByte(d));
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    if (store_->readOnly()) return writeProtected();
    uint64_t blocks = receivedBlocks(request, d.blocks);
    if (blocks == 0) return d.fua ? syncResult() : good();
    int rc = store_->write(d.lba * kLogicalBlockSize, request.dataOut, blocks * kLogicalBlockSize, d.fua);
    if (rc != 0) return writeFailure(rc);
    return good();
  }

  CommandResult syncResult() {
    int rc = store_->flush();
    return rc == 0 ? good() : writeFailure(rc);
  }

  CommandResult verify(const DecodedCdb& d, const CommandRequest& request) {
    // Checked before the range, as LIO does: a transfer we would never accept is a CDB error.
    if (d.blocks > kMaxTransferBlocks) return invalidFieldInCdb(transferLengthByte(d));
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    if (d.blocks == 0) return good();
    std::vector<uint8_t> medium(uint64_t{d.blocks} * kLogicalBlockSize);
    int rc = store_->read(d.lba * kLogicalBlockSize, medium.size(), medium.data());
    if (rc != 0) return readFailure(rc);
    if (d.bytchk == 0) return good();  // medium verification: the read above succeeded
    const uint8_t* data = request.dataOut;
    size_t length = data == nullptr ? 0 : request.dataOutLength;
    for (uint64_t offset = 0; offset < medium.size(); ++offset) {
      size_t index = d.bytchk == 3 ? static_cast<size_t>(offset % kLogicalBlockSize) : static_cast<size_t>(offset);
      if (index >= length) break;  // only what the initiator sent is compared
      if (data[index] != medium[offset]) {
        // SBC-3 5.33: INFORMATION = offset of the first miscompare in the Data-Out buffer.
        SenseDetails details;
        details.informationValid = true;
        details.information = static_cast<uint32_t>(offset);
        return checkCondition(sense_key::kMiscompare, asc::kMiscompareDuringVerify, details);
      }
    }
    return good();
  }

  CommandResult writeSame(const DecodedCdb& d, const CommandRequest& request) {
    const uint16_t lengthField = transferLengthByte(d);
    if (d.anchor) return invalidFieldInCdb(1, 4);  // ANC_SUP=0 (SBC-3 5.42)
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    if (d.blocks == 0) return invalidFieldInCdb(lengthField);  // WSNZ=1
    if (d.blocks > kMaxWriteSameBlocks) return invalidFieldInCdb(lengthField);
    if (store_->readOnly()) return writeProtected();
    const uint64_t offset = d.lba * kLogicalBlockSize;
    const uint64_t length = uint64_t{d.blocks} * kLogicalBlockSize;
    bool zeros = d.ndob;
    if (!d.ndob) {
      // WRITE SAME carries exactly one block. Any other EDTL (or a short Data-Out) is refused
      // rather than guessed at: libiscsi's WriteSame*.InvalidDataOutSize expects a failure.
      if (request.expectedDataLength != kLogicalBlockSize || request.dataOut == nullptr ||
          request.dataOutLength < kLogicalBlockSize)
        return invalidFieldInCdb(lengthField);
      zeros = std::all_of(request.dataOut, request.dataOut + kLogicalBlockSize, [](uint8_t b) { return b == 0; });
    }
    // With UNMAP=1 we still owe zeros/the pattern on reads (LBPRZ=0 means an unmapped block
    // would read golden data), so a zero block becomes owned holes: no space, reads zeros.
    int rc;
    if (zeros) {
      rc = store_->writeZeroes(offset, length, false);
    } else {
      constexpr uint64_t kPiece = 1u << 20;
      std::vector<uint8_t> pattern(std::min<uint64_t>(length, kPiece));
      for (size_t i = 0; i < pattern.size(); i += kLogicalBlockSize) std::memcpy(&pattern[i], request.dataOut, kLogicalBlockSize);
      rc = 0;
      for (uint64_t done = 0; done < length && rc == 0; done += pattern.size()) {
        rc = store_->write(offset + done, pattern.data(), std::min<uint64_t>(pattern.size(), length - done), false);
      }
    }
    if (rc != 0) return writeFailure(rc);
    return good();
  }

  CommandResult compareAndWrite(const DecodedCdb& d, const CommandRequest& request) {
    if (d.blocks > kMaxCompareAndWriteBlocks) return invalidFieldInCdb(13);
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    if (store_->readOnly()) return writeProtected();
    if (d.blocks == 0) {
      // SBC-3 5.2: nothing to compare is not an error, but Data-Out for it is: the initiator
      // meant more blocks than the one-byte field holds (libiscsi sends 256 as 0).
      return request.expectedDataLength == 0 ? good() : invalidFieldInCdb(13);
    }
    const uint64_t half = uint64_t{d.blocks} * kLogicalBlockSize;
    // Both halves must arrive whole; a guess at a partial compare could write wrong data.
    if (request.expectedDataLength != 2 * half || request.dataOut == nullptr || request.dataOutLength < 2 * half)
      return invalidFieldInCdb(13);
    uint64_t mismatch = 0;
    int rc = store_->compareAndWrite(d.lba * kLogicalBlockSize, request.dataOut, request.dataOut + half, half, d.fua,
                                     &mismatch);
    if (rc == -EILSEQ) {
      // SBC-3 5.2: MISCOMPARE, INFORMATION = offset of the first differing byte.
      SenseDetails details;
      details.informationValid = true;
      details.information = static_cast<uint32_t>(mismatch);
      return checkCondition(sense_key::kMiscompare, asc::kMiscompareDuringVerify, details);
    }
    if (rc != 0) return writeFailure(rc);
    return good();
  }

  CommandResult unmap(const DecodedCdb& d, const CommandRequest& request) {
    if (d.anchor) return invalidFieldInCdb(1, 0);  // ANC_SUP=0
    if (store_->readOnly()) return writeProtected();
    if (d.parameterListLength == 0) return good();  // SBC-3 5.28: not an error
    // SBC-3 5.28: a parameter list shorter than its 8-byte header is a length error.
    if (d.parameterListLength < 8) return checkCondition(sense_key::kIllegalRequest, asc::kParameterListLengthError);
    size_t available = std::min<size_t>(d.parameterListLength, request.dataOut == nullptr ? 0 : request.dataOutLength);
    if (available < 8) return checkCondition(sense_key::kIllegalRequest, asc::kParameterListLengthError);
    const uint8_t* list = request.dataOut;
    uint16_t descriptorBytes = loadBe16(list + 2);
    // Descriptors past what was sent, and a trailing partial descriptor, are ignored.
    size_t usable = std::min<size_t>(descriptorBytes, available - 8) / 16;
    if (usable > kMaxUnmapDescriptors) return invalidFieldInParameterList(2);
    uint64_t totalBlocks = 0;
    for (size_t i = 0; i < usable; ++i) {
      const uint8_t* descriptor = list + 8 + 16 * i;
      uint64_t lba = loadBe64(descriptor);
      uint32_t count = loadBe32(descriptor + 8);
      if (!rangeOk(lba, count)) return lbaOutOfRange();
      totalBlocks += count;
      if (totalBlocks > kMaxUnmapBlocks) return invalidFieldInParameterList(static_cast<uint16_t>(8 + 16 * i + 8));
    }
    for (size_t i = 0; i < usable; ++i) {
      const uint8_t* descriptor = list + 8 + 16 * i;
      uint64_t lba = loadBe64(descriptor);
      uint32_t count = loadBe32(descriptor + 8);
      if (count == 0) continue;
      int rc = store_->discard(lba * kLogicalBlockSize, uint64_t{count} * kLogicalBlockSize);
      if (rc != 0) return writeFailure(rc);
    }
    return good();
  }

  CommandResult synchronizeCache(const DecodedCdb& d) {
    // NUMBER OF LOGICAL BLOCKS 0 = to the end of the medium (SBC-3 5.22).
    if (!rangeOk(d.lba, d.blocks)) return lbaOutOfRange();
    if (store_->readOnly()) return good();
    return syncResult();
  }

  // ---- MODE SENSE (SPC-4 6.11/6.12, pages from SBC-3 6.4) ----
  static void appendCachingPage(std::vector<uint8_t>& out, uint8_t pageControl) {
    uint8_t page[20] = {0x08, 0x12};
    // WCE=1: writes are acknowledged from the page cache; SYNCHRONIZE CACHE / FUA make
    // them durable. Nothing is changeable (pageControl 1 = mask of changeable bits = 0).
    if (pageControl != 1) page[2] = 0x04;
    out.insert(out.end(), page, page + sizeof(page));
  }
  static void appendControlPage(std::vector<uint8_t>& out, uint8_t pageControl) {
    uint8_t page[12] = {0x0A, 0x0A};
    if (pageControl != 1) {
      page[3] = 0x10;  // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering allowed
      storeBe16(&page[8], 0xFFFF);  // BUSY TIMEOUT PERIOD: unlimited
    }
    out.insert(out.end(), page, page + sizeof(page));
  }
  static void appendInformationalExceptionsPage(std::vector<uint8_t>& out, uint8_t pageControl) {
    uint8_t page[12] = {0x1C, 0x0A};
    if (pageControl != 1) page[2] = 0x08;  // DEXCPT=1: no informational exceptions reported
    out.insert(out.end(), page, page + sizeof(page));
  }

  CommandResult modeSense(const DecodedCdb& d) {
    const bool ten = d.opcode == op::kModeSense10;
    if (d.pageControl == 3) {
      // Saved values are not kept (SPC-4 6.11: SAVING PARAMETERS NOT SUPPORTED).
      SenseDetails details;
      details.fieldPointerValid = true;
      details.fieldByte = 2;
      details.fieldBitValid = true;
      details.fieldBit = 7;
      return checkCondition(sense_key::kIllegalRequest, asc::kSavingParametersNotSupported, details);
    }
    // Subpage 00h, or FFh with page 3Fh ("all pages and subpages"; we have no subpages).
    if (d.subpageCode != 0 && !(d.subpageCode == 0xFF && d.pageCode == 0x3F)) return invalidFieldInCdb(3);
    std::vector<uint8_t> pages;
    switch (d.pageCode) {
      case 0x08: appendCachingPage(pages, d.pageControl); break;
      case 0x0A: appendControlPage(pages, d.pageControl); break;
      case 0x1C: appendInformationalExceptionsPage(pages, d.pageControl); break;
      case 0x3F:
        appendCachingPage(pages, d.pageControl);
        appendControlPage(pages, d.pageControl);
        appendInformationalExceptionsPage(pages, d.pageControl);
        break;
      default:
        return invalidFieldInCdb(2, 5);
    }
    std::vector<uint8_t> descriptor;
    if (!d.dbd) {
      if (ten && d.llbaa) {
        descriptor.assign(16, 0);  // long LBA block descriptor (SPC-4 7.5.5.3)
        storeBe64(&descriptor[0], totalBlocks_);
        storeBe32(&descriptor[12], kLogicalBlockSize);
      } else {
        descriptor.assign(8, 0);  // short block descriptor (SBC-3 6.4.2)
        storeBe32(&descriptor[0], totalBlocks_ > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<uint32_t>(totalBlocks_));
        common::storeBe24(&descriptor[5], kLogicalBlockSize);
      }
    }
    // Device-specific parameter (SBC-3 6.4.1): WP (bit 7), DPOFUA (bit 4) = DPO and FUA
    // are supported.
    const uint8_t deviceSpecific = static_cast<uint8_t>((store_->readOnly() ? 0x80 : 0x00) | 0x10);
    std::vector<uint8_t> b;
    if (ten) {
      b.assign(8, 0);
      b[3] = deviceSpecific;
      if (descriptor.size() == 16) b[4] = 0x01;  // LONGLBA
      storeBe16(&b[6], static_cast<uint16_t>(descriptor.size()));
    } else {
      b.assign(4, 0);
      b[2] = deviceSpecific;
      b[3] = static_cast<uint8_t>(descriptor.size());
    }
    b.insert(b.end(), descriptor.begin(), descriptor.end());
    b.insert(b.end(), pages.begin(), pages.end());
    if (ten)
      storeBe16(&b[0], static_cast<uint16_t>(b.size() - 2));  // MODE DATA LENGTH excludes itself
    else
      b[0] = static_cast<uint8_t>(b.size() - 1);
    return dataIn(std::move(b), d.allocationLength);
  }

  CommandResult reportLuns(const DecodedCdb& d) const {
    // One logical unit, LUN 0 (SAM-5 4.6: single level, peripheral addressing).
    std::vector<uint8_t> b(16, 0);
    storeBe32(&b[0], 8);  // LUN LIST LENGTH
    return dataIn(std::move(b), d.allocationLength);
  }

  CommandResult readDefectData(const DecodedCdb& d) const {
    // No defect lists: a header with PLISTV=GLISTV=0 and a zero-length list (SBC-3 5.18).
    std::vector<uint8_t> b(d.opcode == op::kReadDefectData10 ? 4 : 8, 0);
    return dataIn(std::move(b), d.allocationLength);
  }

  CommandResult reportSupportedOpcodes(const DecodedCdb& d) const;

  std::shared_ptr<CowStore> store_;
  std::atomic<bool> readThroughMemory_{false};
  DiskIdentity identity_;
  uint64_t totalBlocks_ = 0;
  uint64_t naa_ = 0;
  std::mutex nexusMutex_;
  std::set<uint64_t> nexuses_;
  std::set<uint64_t> pendingUnitAttention_;
};

// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): the commands above with their CDB usage
// masks (which bits the device server looks at).
struct OpcodeInfo {
  uint8_t opcode;
  uint16_t serviceAction;
  bool hasServiceAction;
  uint8_t cdbSize;
  uint8_t usage[16];
};

const OpcodeInfo kSupportedOpcodes[] = {
    {op::kTestUnitReady, 0, false, 6, {0x00, 0x00, 0x00, 0x00, 0x00, 0x03}},
    {op::kRequestSense, 0, false, 6, {0x03, 0x01, 0x00, 0x00, 0xFF, 0x03}},
    {op::kRead6, 0, false, 6, {0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x03}},
    {op::kWrite6, 0, false, 6, {0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x03}},
    {op::kInquiry, 0, false, 6, {0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x03}},
    {op::kModeSense6, 0, false, 6, {0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x03}},
    {op::kStartStopUnit, 0, false, 6, {0x1B, 0x01, 0x00, 0x00, 0xF7, 0x03}},
    {op::kPreventAllowMediumRemoval, 0, false, 6, {0x1E, 0x00, 0x00, 0x00, 0x03, 0x03}},
    {op::kReadCapacity10, 0, false, 10, {0x25, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x03}},
    {op::kRead10, 0, false, 10, {0x28, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kWrite10, 0, false, 10, {0x2A, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kWriteAndVerify10, 0, false, 10, {0x2E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kVerify10, 0, false, 10, {0x2F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kPreFetch10, 0, false, 10, {0x34, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kSynchronizeCache10, 0, false, 10, {0x35, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kReadDefectData10, 0, false, 10, {0x37, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03}},
    {op::kWriteSame10, 0, false, 10, {0x41, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kUnmap, 0, false, 10, {0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0xFF, 0xFF, 0x03}},
    {op::kModeSense10, 0, false, 10, {0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03}},
    {op::kRead16, 0, false, 16, {0x88, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kCompareAndWrite, 0, false, 16, {0x89, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0x1F, 0x03}},
    {op::kWrite16, 0, false, 16, {0x8A, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kWriteAndVerify16, 0, false, 16, {0x8E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kVerify16, 0, false, 16, {0x8F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kPreFetch16, 0, false, 16, {0x90, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kSynchronizeCache16, 0, false, 16, {0x91, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kWriteSame16, 0, false, 16, {0x93, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kServiceActionIn16, op::kSaReadCapacity16, true, 16, {0x9E, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x03}},
    {op::kServiceActionIn16, op::kSaGetLbaStatus, true, 16, {0x9E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x03}},
    {op::kReportLuns, 0, false, 12, {0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x03}},
    {op::kMaintenanceIn, op::kSaReportSupportedOpcodes, true, 12, {0xA3, 0x0C, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x03}},
    {op::kRead12, 0, false, 12, {0xA8, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kWrite12, 0, false, 12, {0xAA, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kWriteAndVerify12, 0, false, 12, {0xAE, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kVerify12, 0, false, 12, {0xAF, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x03}},
    {op::kReadDefectData12, 0, false, 12, {0xB7, 0x00, 0x1F, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x03}},
};

CommandResult DiskLun::reportSupportedOpcodes(const DecodedCdb& d) const {
  // Command timeouts descriptor (SPC-4 7.6.4): we state none (0 = not specified).
  const size_t timeoutLength = d.rctd ? 12 : 0;
  std::vector<uint8_t> b;
  if (d.reportingOptions == 0) {
    b.assign(4, 0);
    for (const OpcodeInfo& info : kSupportedOpcodes) {
      uint8_t descriptor[8] = {info.opcode, 0};
      storeBe16(&descriptor[2], info.serviceAction);
      descriptor[5] = static_cast<uint8_t>((d.rctd ? 0x02 : 0x00) | (info.hasServiceAction ? 0x01 : 0x00));
      storeBe16(&descriptor[6], info.cdbSize);
      b.insert(b.end(), descriptor, descriptor + 8);
      if (d.rctd) {
        uint8_t timeouts[12] = {0x00, 0x0A};
        b.insert(b.end(), timeouts, timeouts + 12);
      }
    }
    storeBe32(&b[0], static_cast<uint32_t>(b.size() - 4));
    return dataIn(std::move(b), d.allocationLength);
  }
  // One command: options 1 (opcode, no service action), 2 (opcode + service action),
  // 3 (either). SUPPORT field: 001b not supported, 011b supported (SPC-4 table 254).
  const OpcodeInfo* found = nullptr;
  bool invalid = false;
  for (const OpcodeInfo& info : kSupportedOpcodes) {
    if (info.opcode != d.requestedOpcode) continue;
    if (d.reportingOptions == 1) {
      if (info.hasServiceAction) invalid = true;  // needs a service action: INVALID FIELD
      else found = &info;
      break;
    }
    if (d.reportingOptions == 2 && !info.hasServiceAction) {
      invalid = true;
      break;
    }
    if (!info.hasServiceAction || info.serviceAction == d.requestedServiceAction) {
      found = &info;
      break;
    }
  }
  if (invalid) return invalidFieldInCdb(2, 2);
  b.assign(4, 0);
  b[1] = static_cast<uint8_t>((d.rctd ? 0x80 : 0x00) | (found ? 0x03 : 0x01));
  if (found) {
    storeBe16(&b[2], found->cdbSize);
    b.insert(b.end(), found->usage, found->usage + found->cdbSize);
  }
  if (d.rctd) {
    uint8_t timeouts[12] = {0x00, 0x0A};
    b.insert(b.end(), timeouts, timeouts + timeoutLength);
  }
  return dataIn(std::move(b), d.allocationLength);
}

}  // namespace

std::shared_ptr<Lun> makeDiskLun(std::shared_ptr<CowStore> store, DiskIdentity identity) {
  if (!store) return nullptr;
  return std::make_shared<DiskLun>(std::move(store), std::move(identity));
}

}  // namespace lanboot::scsi
