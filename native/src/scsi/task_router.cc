#include "scsi/task_router.h"

#include <algorithm>
#include <vector>

#include "common/byte_order.h"
#include "scsi/cdb.h"
#include "scsi/missing_lun.h"
#include "scsi/sense.h"

namespace lanboot::scsi {

CommandResult reportLuns(const LunTable& luns, const CommandRequest& request) {
  const uint8_t* cdb = request.cdb;
  if (cdb == nullptr || request.cdbLength < 12) return checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCdb);
  const uint8_t selectReport = cdb[2];
  const uint32_t allocation = common::loadBe32(cdb + 6);
  if (allocation < 16 || selectReport > 0x02) return checkCondition(sense_key::kIllegalRequest, asc::kInvalidFieldInCdb);
  std::vector<uint8_t> data(8, 0);
  if (selectReport != 0x01) {
    for (const auto& entry : luns) {
      if (entry.device == nullptr) continue;
      uint8_t lun[8] = {0};
      // Peripheral device addressing, bus 0 (SAM-5 4.7.7.2): the LUN in byte 1.
      lun[1] = static_cast<uint8_t>(entry.lun);
      data.insert(data.end(), lun, lun + 8);
    }
  }
  common::storeBe32(data.data(), static_cast<uint32_t>(data.size() - 8));  // LUN LIST LENGTH
  if (data.size() > allocation) data.resize(allocation);
  CommandResult result;
  result.data = std::move(data);
  return result;
}

TaskOutcome routeCommand(Lun* lunZero, const CommandRequest& request) {
  return routeCommand(LunTable{{0, lunZero}}, request);
}

TaskOutcome routeCommand(const LunTable& luns, const CommandRequest& request) {
  TaskOutcome outcome;
  Lun* lunZero = luns.empty() ? nullptr : luns.front().device;
  Lun* device = nullptr;
  for (const auto& entry : luns) {
    if (entry.lun == request.lun) {
      device = entry.device;
      break;
    }
  }
  if (request.cdb != nullptr && request.cdbLength > 0 && request.cdb[0] == op::kReportLuns && luns.size() > 1 &&
      (device != nullptr || lunZero != nullptr)) {
    outcome.result = reportLuns(luns, request);
    return outcome;
  }
  if (device == nullptr) {
    outcome.result = answerForMissingLun(request, lunZero);
    return outcome;
  }
  if (!request.writeFlag) {
    CommandRequest read = request;
    read.dataOut = nullptr;
    read.dataOutLength = 0;
    outcome.result = device->execute(read);
    return outcome;
  }

  CommandRequest write = request;
  const uint64_t cdbDataOut = device->dataOutLengthFromCdb(request.cdb, request.cdbLength);
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
  outcome.result = device->execute(write);
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
