// The SCSI target device's task router (SAM-5 4.6.x): the one entry from a transport into
// the SCSI layer. The transport (native/src/iscsi) hands over a CDB, the LUN it addressed,
// the expected transfer length and the Data-Out it received; it gets status, sense data and
// Data-In back, plus the lengths it needs for residuals. It knows nothing of CDB layouts or
// sense data formats (the split of tgt's usr/scsi.c from its iSCSI code).
#pragma once

#include <cstdint>
#include <vector>

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

// A target's logical units: LUN number and device, LUN 0 first (its device may be null when
// a target has none), the others in increasing LUN order.
struct LunEntry {
  uint64_t lun;
  Lun* device;
};
using LunTable = std::vector<LunEntry>;

// Routes `request` to the logical unit it addresses, or answers for a missing one
// (scsi/missing_lun.h). REPORT LUNS, whichever LUN it is addressed to, is answered here with
// the target's whole inventory (SPC-4 6.33: the list is the SCSI target device's, not one
// logical unit's).
//
// Data-Out that disagrees with the CDB (iSCSI EDTL vs TRANSFER LENGTH), following FCP-4
// 9.4.2, which is what libiscsi's WriteResiduals tests and LIO do:
// - more Data-Out than the CDB asks for: only the CDB's bytes are written (underflow);
// - less: a WRITE / WRITE AND VERIFY runs with its TRANSFER LENGTH cut to the whole blocks
//   that arrived (none: nothing runs, GOOD); any other command is refused with INVALID
//   FIELD IN COMMAND INFORMATION UNIT and transfers nothing.
TaskOutcome routeCommand(const LunTable& luns, const CommandRequest& request);

// A target with only LUN 0 (may be null).
TaskOutcome routeCommand(Lun* lunZero, const CommandRequest& request);

// REPORT LUNS parameter data (SPC-4 6.33.2) for `luns`, cut to the CDB's ALLOCATION LENGTH;
// a CDB shorter than 12 bytes or an ALLOCATION LENGTH under 16 is refused (INVALID FIELD IN
// CDB), as the standard requires. SELECT REPORT 01h (well-known LUNs only) lists none.
CommandResult reportLuns(const LunTable& luns, const CommandRequest& request);

// Commands a transport cannot deliver to a logical unit, and the status it reports for them.
enum class Refusal : uint8_t {
  kBidirectional,          // both Data-In and Data-Out: not offered (INVALID FIELD IN CDB)
  kInsufficientResources,  // Data-Out too large to buffer (INSUFFICIENT RESOURCES)
  kDataOutFailed,          // Data-Out sequence broken, task dropped (ABORTED COMMAND)
};
CommandResult refusedCommand(Refusal why);

}  // namespace lanboot::scsi
