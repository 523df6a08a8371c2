// The SCSI target device's task router (SAM-5 4.6.x): the one entry from a transport into
// the SCSI layer. The transport (native/src/iscsi) hands over a CDB, the LUN it addressed,
// the expected transfer length and the Data-Out it received; it gets status, sense data and
// Data-In back, plus the lengths it needs for residuals. It knows nothing of CDB layouts or
// sense data formats (the split of tgt's usr/scsi.c from its iSCSI code).
#pragma once

#include <cstdint>

#include "scsi/lun.h"

namespace lanboot::scsi {

struct TaskOutcome {
  CommandResult result;
  // Data-Out bytes the CDB itself asks for: what residuals compare with the transport's
  // expected length for a write (RFC 7143 11.4.5). 0 for commands that take no Data-Out.
  uint64_t dataOutFromCdb = 0;
  // Data-Out bytes the logical unit accepted with GOOD status (the session's write counter).
  uint64_t bytesWritten = 0;
};

// Routes `request` to `lunZero`, the target's only logical unit (may be null), or answers
// for a missing one (scsi/missing_lun.h).
//
// Data-Out that disagrees with the CDB (iSCSI EDTL vs TRANSFER LENGTH), following FCP-4
// 9.4.2, which is what libiscsi's WriteResiduals tests and LIO do:
// - more Data-Out than the CDB asks for: only the CDB's bytes are written (underflow);
// - less: a WRITE / WRITE AND VERIFY runs with its TRANSFER LENGTH cut to the whole blocks
//   that arrived (none: nothing runs, GOOD); any other command is refused with INVALID
//   FIELD IN COMMAND INFORMATION UNIT and transfers nothing.
TaskOutcome routeCommand(Lun* lunZero, const CommandRequest& request);

// Commands a transport cannot deliver to a logical unit, and the status it reports for them.
enum class Refusal : uint8_t {
  kBidirectional,          // both Data-In and Data-Out: not offered (INVALID FIELD IN CDB)
  kInsufficientResources,  // Data-Out too large to buffer (INSUFFICIENT RESOURCES)
  kDataOutFailed,          // Data-Out sequence broken, task dropped (ABORTED COMMAND)
};
CommandResult refusedCommand(Refusal why);

}  // namespace lanboot::scsi
