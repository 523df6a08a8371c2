// The answers for a command addressed to a logical unit this target does not have: the
// "null LUN" of the SCSI target device (SAM-5 5.9, incorrect logical unit selection).
#pragma once

#include "scsi/lun.h"

namespace lanboot::scsi {

// - INQUIRY (standard data) reports peripheral qualifier 011b with device type 1Fh: no device
//   can be attached at this LUN (SPC-4 6.6.2). INQUIRY for a VPD page is refused as below.
// - REPORT LUNS is processed by LUN 0's device server, which lists the target's inventory
//   (SPC-4 6.33); without one it is refused as below.
// - Anything else: CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h).
// `lunZero` may be null. No Data-Out is ever taken.
CommandResult answerForMissingLun(const CommandRequest& request, Lun* lunZero);

}  // namespace lanboot::scsi
