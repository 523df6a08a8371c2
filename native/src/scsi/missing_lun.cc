#include "scsi/missing_lun.h"

#include <algorithm>
#include <vector>

#include "common/byte_order.h"
#include "scsi/cdb.h"
#include "scsi/sense.h"

namespace lanboot::scsi {
namespace {

constexpr size_t kStandardInquiryLength = 36;  // SPC-4 6.6.2: through PRODUCT REVISION LEVEL

CommandResult logicalUnitNotSupported() {
  return checkCondition(sense_key::kIllegalRequest, asc::kLogicalUnitNotSupported);
}

}  // namespace

CommandResult answerForMissingLun(const CommandRequest& request, Lun* lunZero) {
  const uint8_t* cdb = request.cdb;
  const size_t length = request.cdbLength;
  if (cdb == nullptr || length == 0) return logicalUnitNotSupported();

  if (cdb[0] == op::kReportLuns && lunZero != nullptr) {
    CommandRequest toLunZero = request;
    toLunZero.lun = 0;
    toLunZero.writeFlag = false;
    toLunZero.dataOut = nullptr;
    toLunZero.dataOutLength = 0;
    return lunZero->execute(toLunZero);
  }

  // INQUIRY: EVPD is byte 1 bit 0, ALLOCATION LENGTH bytes 3-4 (SPC-4 6.6.1).
  if (cdb[0] == op::kInquiry && length >= 6 && (cdb[1] & 0x01) == 0) {
    const uint16_t allocation = common::loadBe16(cdb + 3);
    std::vector<uint8_t> data(kStandardInquiryLength, 0);
    data[0] = 0x7f;  // PERIPHERAL QUALIFIER 011b, PERIPHERAL DEVICE TYPE 1Fh
    data[2] = 0x06;  // VERSION: SPC-4
    data[3] = 0x02;  // RESPONSE DATA FORMAT 2
    data[4] = kStandardInquiryLength - 5;  // ADDITIONAL LENGTH
    data.resize(std::min<size_t>(data.size(), allocation));
    CommandResult result;
    result.data = std::move(data);
    return result;
  }

  return logicalUnitNotSupported();
}

}  // namespace lanboot::scsi
