#include "scsi/sense.h"

namespace lanboot::scsi {

std::vector<uint8_t> fixedSense(uint8_t senseKey, Asc code, const SenseDetails& details) {
  std::vector<uint8_t> sense(kFixedSenseLength, 0);
  sense[0] = 0x70;  // current error, fixed format (SPC-4 4.5.3 table 48)
  if (details.informationValid) {
    sense[0] |= 0x80;  // VALID: the INFORMATION field is defined
    sense[3] = static_cast<uint8_t>(details.information >> 24);
    sense[4] = static_cast<uint8_t>(details.information >> 16);
    sense[5] = static_cast<uint8_t>(details.information >> 8);
    sense[6] = static_cast<uint8_t>(details.information);
  }
  sense[2] = senseKey & 0x0F;
  sense[7] = kFixedSenseLength - 8;  // ADDITIONAL SENSE LENGTH
  sense[12] = code.asc;
  sense[13] = code.ascq;
  if (details.fieldPointerValid) {
    // Field pointer sense-key specific data (SPC-4 4.5.2.4.2): SKSV, C/D, BPV, bit pointer.
    sense[15] = static_cast<uint8_t>(0x80 | (details.fieldInCdb ? 0x40 : 0x00) |
                                     (details.fieldBitValid ? 0x08 | (details.fieldBit & 0x07) : 0x00));
    sense[16] = static_cast<uint8_t>(details.fieldByte >> 8);
    sense[17] = static_cast<uint8_t>(details.fieldByte);
  }
  return sense;
}

}  // namespace lanboot::scsi
