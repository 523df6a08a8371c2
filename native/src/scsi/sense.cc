#include "scsi/sense.h"

#include "common/byte_order.h"

namespace lanboot::scsi {

std::vector<uint8_t> fixedSense(uint8_t senseKey, Asc code, const SenseDetails& details) {
  std::vector<uint8_t> sense(kFixedSenseLength, 0);
  sense[0] = 0x70;  // current error, fixed format (SPC-4 4.5.3 table 48)
  if (details.informationValid) {
    sense[0] |= 0x80;  // VALID: the INFORMATION field is defined
    common::storeBe32(&sense[3], details.information);
  }
  sense[2] = senseKey & 0x0F;
  sense[7] = kFixedSenseLength - 8;  // ADDITIONAL SENSE LENGTH
  sense[12] = code.asc;
  sense[13] = code.ascq;
  if (details.fieldPointerValid) {
    // Field pointer sense-key specific data (SPC-4 4.5.2.4.2): SKSV, C/D, BPV, bit pointer.
    sense[15] = static_cast<uint8_t>(0x80 | (details.fieldInCdb ? 0x40 : 0x00) |
                                     (details.fieldBitValid ? 0x08 | (details.fieldBit & 0x07) : 0x00));
    common::storeBe16(&sense[16], details.fieldByte);
  }
  return sense;
}

CommandResult checkCondition(uint8_t senseKey, Asc code, const SenseDetails& details) {
  CommandResult result;
  result.status = Status::kCheckCondition;
  result.sense = fixedSense(senseKey, code, details);
  return result;
}

}  // namespace lanboot::scsi
