#include "scsi/task_router.h"

#include <algorithm>
#include <vector>

#include "scsi/cdb.h"
#include "scsi/missing_lun.h"
#include "scsi/sense.h"

namespace lanboot::scsi {

TaskOutcome routeCommand(Lun* lunZero, const CommandRequest& request) {
  TaskOutcome outcome;
  if (request.lun != 0 || lunZero == nullptr) {
    outcome.result = answerForMissingLun(request, lunZero);
    return outcome;
  }
  if (!request.writeFlag) {
    CommandRequest read = request;
    read.dataOut = nullptr;
    read.dataOutLength = 0;
    outcome.result = lunZero->execute(read);
    return outcome;
  }

  CommandRequest write = request;
  const uint64_t cdbDataOut = lunZero->dataOutLengthFromCdb(request.cdb, request.cdbLength);
  outcome.dataOutFromCdb = cdbDataOut;
  std::vector<uint8_t> cutCdb;
  if (cdbDataOut > request.expectedDataLength) {
    // FCP-4 9.4.2 a): process the command but transfer no data beyond the expected length,
    // i.e. only the whole blocks the initiator sent.
    const uint32_t blocks = writeTransferBlocks(request.cdb, request.cdbLength);
    if (blocks == 0 || cdbDataOut % blocks != 0) {
      // FCP-4 9.4.2 b): transfer nothing, INVALID FIELD IN COMMAND INFORMATION UNIT.
      outcome.result = checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCommandInformationUnit);
      return outcome;
    }
    const uint64_t blockSize = cdbDataOut / blocks;
    const uint32_t keep = static_cast<uint32_t>(request.expectedDataLength / blockSize);
    if (keep == 0) return outcome;  // not one whole block: nothing to write, GOOD
    cutCdb.assign(request.cdb, request.cdb + request.cdbLength);
    if (!setWriteTransferBlocks(cutCdb.data(), cutCdb.size(), keep)) {
      outcome.result = checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCommandInformationUnit);
      return outcome;
    }
    write.cdb = cutCdb.data();
    write.dataOutLength = static_cast<size_t>(std::min<uint64_t>(request.dataOutLength, keep * blockSize));
  } else if (cdbDataOut < request.dataOutLength) {
    write.dataOutLength = static_cast<size_t>(cdbDataOut);  // the CDB's own length is what gets written
  }
  outcome.result = lunZero->execute(write);
  if (outcome.result.status == Status::kGood) outcome.bytesWritten = write.dataOutLength;
  return outcome;
}

CommandResult refusedCommand(Refusal why) {
  switch (why) {
    case Refusal::kBidirectional:
      return checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCdb);
    case Refusal::kInsufficientResources:
      return checkCondition(sense_key::kIllegalRequest, asc::kInsufficientResources);
    case Refusal::kDataOutFailed:
      break;
  }
  return checkCondition(sense_key::kAbortedCommand, asc::kWriteErrorNotEnoughUnsolicitedData);
}

}  // namespace lanboot::scsi
