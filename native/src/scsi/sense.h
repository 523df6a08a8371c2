// Fixed-format sense data (SPC-4 4.5.3) and CHECK CONDITION results carrying it: pure builders,
// no device state. The only place that knows the sense data layout; the iSCSI transport passes
// the bytes through (RFC 7143 11.4.7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scsi/lun.h"

namespace lanboot::scsi {

namespace sense_key {
constexpr uint8_t kNoSense = 0x00;
constexpr uint8_t kNotReady = 0x02;
constexpr uint8_t kMediumError = 0x03;
constexpr uint8_t kHardwareError = 0x04;
constexpr uint8_t kIllegalRequest = 0x05;
constexpr uint8_t kUnitAttention = 0x06;
constexpr uint8_t kDataProtect = 0x07;
constexpr uint8_t kAbortedCommand = 0x0B;
constexpr uint8_t kMiscompare = 0x0E;
}  // namespace sense_key

// Additional sense code + qualifier pairs (SPC-4 Annex D).
struct Asc {
  uint8_t asc;
  uint8_t ascq;
};
namespace asc {
constexpr Asc kNoAdditionalSense{0x00, 0x00};
constexpr Asc kWriteError{0x0C, 0x00};
constexpr Asc kWriteErrorNotEnoughUnsolicitedData{0x0C, 0x0D};
constexpr Asc kInvalidFieldInCommandInformationUnit{0x0E, 0x03};
constexpr Asc kUnrecoveredReadError{0x11, 0x00};
constexpr Asc kParameterListLengthError{0x1A, 0x00};
constexpr Asc kMiscompareDuringVerify{0x1D, 0x00};
constexpr Asc kInvalidCommandOperationCode{0x20, 0x00};
constexpr Asc kLbaOutOfRange{0x21, 0x00};
constexpr Asc kInvalidFieldInCdb{0x24, 0x00};
constexpr Asc kLogicalUnitNotSupported{0x25, 0x00};
constexpr Asc kInvalidFieldInParameterList{0x26, 0x00};
constexpr Asc kWriteProtected{0x27, 0x00};
constexpr Asc kSpaceAllocationFailedWriteProtect{0x27, 0x07};
constexpr Asc kBusDeviceResetFunctionOccurred{0x29, 0x03};
constexpr Asc kSavingParametersNotSupported{0x39, 0x00};
constexpr Asc kInsufficientResources{0x55, 0x03};
}  // namespace asc

constexpr size_t kFixedSenseLength = 18;

struct SenseDetails {
  bool informationValid = false;   // VALID bit + INFORMATION field (e.g. MISCOMPARE offset)
  uint32_t information = 0;
  bool fieldPointerValid = false;  // SKSV + sense-key specific field pointer (ILLEGAL REQUEST)
  bool fieldInCdb = true;          // C/D: 1 = CDB, 0 = parameter list
  uint16_t fieldByte = 0;
  bool fieldBitValid = false;      // BPV
  uint8_t fieldBit = 0;
};

// 18 bytes: response code 70h (current error), sense key, ASC/ASCQ, optional details.
std::vector<uint8_t> fixedSense(uint8_t senseKey, Asc code, const SenseDetails& details = SenseDetails());

// Status CHECK CONDITION (SAM-5 5.3) with that sense data and no Data-In.
CommandResult checkCondition(uint8_t senseKey, Asc code, const SenseDetails& details = SenseDetails());

}  // namespace lanboot::scsi
