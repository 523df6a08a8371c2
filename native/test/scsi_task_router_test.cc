// The SCSI layer's entry for a transport (scsi/task_router.h) over a real disk LUN on a blank
// copy-on-write store: missing-LUN answers, EDTL against the CDB's transfer length (FCP-4
// 9.4.2), the refusals a transport reports, and the CDB helpers they use.
#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/byte_order.h"
#include "cow/store.h"
#include "scsi/cdb.h"
#include "scsi/lun.h"
#include "scsi/missing_lun.h"
#include "scsi/task_router.h"
#include "check.h"

using namespace lanboot::scsi;
using lanboot::common::loadBe32;

namespace {

constexpr uint32_t kBlock = 512;

struct BlankDisk {
  std::string dir;
  std::shared_ptr<Lun> lun;
  BlankDisk() {
    char pattern[] = "/tmp/lanboot-router-test-XXXXXX";
    if (!::mkdtemp(pattern)) std::exit(2);
    dir = pattern;
    CowStoreOptions options;
    options.deltaDir = dir + "/delta";
    options.sizeBytes = 1 << 20;
    std::string error;
    auto store = CowStore::open(options, &error);
    if (!store) {
      std::fprintf(stderr, "store: %s\n", error.c_str());
      std::exit(2);
    }
    DiskIdentity identity;
    identity.serial = "ROUTER01";
    identity.naa = 0x5001405000000001ull;
    lun = makeDiskLun(store, identity);
  }
  ~BlankDisk() {
    lun.reset();
    ::nftw(dir.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
           FTW_DEPTH | FTW_PHYS);
  }
};

CommandRequest request(const std::vector<uint8_t>& cdb, uint64_t lun, uint32_t edtl, bool read, bool write,
                       const std::vector<uint8_t>& dataOut = {}) {
  CommandRequest r;
  r.cdb = cdb.data();
  r.cdbLength = cdb.size();
  r.lun = lun;
  r.nexusId = 1;
  r.expectedDataLength = edtl;
  r.readFlag = read;
  r.writeFlag = write;
  r.dataOut = dataOut.empty() ? nullptr : dataOut.data();
  r.dataOutLength = dataOut.size();
  return r;
}

bool hasSense(const CommandResult& r, uint8_t key, uint8_t asc, uint8_t ascq) {
  return r.status == Status::kCheckCondition && r.sense.size() == 18 && r.sense[0] == 0x70 &&
         (r.sense[2] & 0x0F) == key && r.sense[12] == asc && r.sense[13] == ascq;
}

// The first bytes of each of `count` blocks from `lba`, read through the router.
std::vector<uint8_t> firstByteOfBlocks(Lun* lun, uint8_t lba, uint8_t count) {
  std::vector<uint8_t> cdb = {0x28, 0, 0, 0, 0, lba, 0, 0, count, 0};
  TaskOutcome out = routeCommand(lun, request(cdb, 0, count * kBlock, true, false));
  CHECK(out.result.status == Status::kGood);
  std::vector<uint8_t> firsts;
  for (const auto& e : out.result.extents) {
    for (uint32_t at = 0; at < e.length; at += kBlock) {
      uint8_t byte = 0;
      if (e.fd >= 0) CHECK(::pread(e.fd, &byte, 1, static_cast<off_t>(e.offset + at)) == 1);
      firsts.push_back(byte);
    }
  }
  return firsts;
}

void missingLun(BlankDisk& disk) {
  std::fprintf(stderr, "task_router: missing LUN\n");
  // Standard INQUIRY: peripheral qualifier 011b, device type 1Fh, clipped to the allocation length.
  auto inquiry = routeCommand(disk.lun.get(), request({0x12, 0, 0, 0, 96, 0}, 3, 96, true, false));
  CHECK(inquiry.result.status == Status::kGood && inquiry.result.data.size() == 36);
  CHECK(inquiry.result.data[0] == 0x7f && inquiry.result.data[4] == 31);
  auto shortInquiry = routeCommand(disk.lun.get(), request({0x12, 0, 0, 0, 5, 0}, 3, 5, true, false));
  CHECK(shortInquiry.result.data.size() == 5);
  // VPD page, TEST UNIT READY, a WRITE with data: LOGICAL UNIT NOT SUPPORTED, nothing written.
  CHECK(hasSense(routeCommand(disk.lun.get(), request({0x12, 1, 0x80, 0, 96, 0}, 3, 96, true, false)).result, 5, 0x25, 0));
  CHECK(hasSense(routeCommand(disk.lun.get(), request({0, 0, 0, 0, 0, 0}, 1, 0, false, false)).result, 5, 0x25, 0));
  std::vector<uint8_t> block(kBlock, 0xAB);
  auto write = routeCommand(disk.lun.get(), request({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, kBlock, false, true, block));
  CHECK(hasSense(write.result, 5, 0x25, 0) && write.bytesWritten == 0 && write.dataOutFromCdb == 0);
  CHECK(firstByteOfBlocks(disk.lun.get(), 0, 1) == std::vector<uint8_t>{0});
  // REPORT LUNS to a missing LUN is answered by LUN 0: one LUN in the list.
  std::vector<uint8_t> reportLuns = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0};
  auto luns = routeCommand(disk.lun.get(), request(reportLuns, 5, 64, true, false));
  CHECK(luns.result.status == Status::kGood && luns.result.data.size() == 16 && loadBe32(luns.result.data.data()) == 8);
  // No device at all: REPORT LUNS is refused too; an empty CDB never reads past its end.
  CHECK(hasSense(routeCommand(nullptr, request(reportLuns, 0, 64, true, false)).result, 5, 0x25, 0));
  CHECK(hasSense(answerForMissingLun(request({}, 1, 0, false, false), nullptr), 5, 0x25, 0));
  CHECK(hasSense(answerForMissingLun(request({0x12, 0}, 1, 0, true, false), nullptr), 5, 0x25, 0));
}

void writeLengths(BlankDisk& disk) {
  std::fprintf(stderr, "task_router: Data-Out against the CDB's transfer length\n");
  // WRITE(10) of 4 blocks with 2.5 blocks expected: runs as a 2-block write (FCP-4 9.4.2 a).
  std::vector<uint8_t> data(kBlock * 5 / 2, 0x11);
  auto cut = routeCommand(disk.lun.get(), request({0x2a, 0, 0, 0, 0, 8, 0, 0, 4, 0}, 0, uint32_t(data.size()), false, true, data));
  CHECK(cut.result.status == Status::kGood && cut.dataOutFromCdb == 4 * kBlock && cut.bytesWritten == 2 * kBlock);
  CHECK((firstByteOfBlocks(disk.lun.get(), 8, 4) == std::vector<uint8_t>{0x11, 0x11, 0, 0}));
  // WRITE(6) the same way, and one with less than a block expected: GOOD, nothing written.
  std::vector<uint8_t> six(kBlock * 3, 0x22);
  auto cut6 = routeCommand(disk.lun.get(), request({0x0a, 0, 0, 16, 5, 0}, 0, uint32_t(six.size()), false, true, six));
  CHECK(cut6.result.status == Status::kGood && cut6.bytesWritten == 3 * kBlock && cut6.dataOutFromCdb == 5 * kBlock);
  CHECK((firstByteOfBlocks(disk.lun.get(), 16, 5) == std::vector<uint8_t>{0x22, 0x22, 0x22, 0, 0}));
  std::vector<uint8_t> crumb(100, 0x33);
  auto none = routeCommand(disk.lun.get(), request({0x2a, 0, 0, 0, 0, 24, 0, 0, 1, 0}, 0, 100, false, true, crumb));
  CHECK(none.result.status == Status::kGood && none.result.sense.empty() && none.bytesWritten == 0);
  CHECK(firstByteOfBlocks(disk.lun.get(), 24, 1) == std::vector<uint8_t>{0});
  // More Data-Out than the CDB asks for: only the CDB's block is written.
  std::vector<uint8_t> extra(kBlock * 2, 0x44);
  auto over = routeCommand(disk.lun.get(), request({0x2a, 0, 0, 0, 0, 32, 0, 0, 1, 0}, 0, uint32_t(extra.size()), false, true, extra));
  CHECK(over.result.status == Status::kGood && over.bytesWritten == kBlock && over.dataOutFromCdb == kBlock);
  CHECK((firstByteOfBlocks(disk.lun.get(), 32, 2) == std::vector<uint8_t>{0x44, 0}));
  // Not a WRITE (WRITE SAME takes one block): refused with INVALID FIELD IN COMMAND INFORMATION UNIT.
  std::vector<uint8_t> few(10, 0x55);
  auto same = routeCommand(disk.lun.get(), request({0x41, 0, 0, 0, 0, 40, 0, 0, 1, 0}, 0, 10, false, true, few));
  CHECK(hasSense(same.result, 5, 0x0e, 0x03) && same.bytesWritten == 0 && same.dataOutFromCdb == kBlock);
}

void refusals() {
  std::fprintf(stderr, "task_router: refusals\n");
  CHECK(hasSense(refusedCommand(Refusal::kBidirectional), 0x05, 0x24, 0x00));
  CHECK(hasSense(refusedCommand(Refusal::kInsufficientResources), 0x05, 0x55, 0x03));
  CHECK(hasSense(refusedCommand(Refusal::kDataOutFailed), 0x0b, 0x0c, 0x0d));
}

void cdbHelpers() {
  std::fprintf(stderr, "task_router: CDB length and WRITE transfer length\n");
  CHECK_EQ(cdbLengthInField(0x00, 16), 6u);
  CHECK_EQ(cdbLengthInField(0x2a, 16), 10u);
  CHECK_EQ(cdbLengthInField(0xaa, 16), 12u);
  CHECK_EQ(cdbLengthInField(0x8a, 16), 16u);
  CHECK_EQ(cdbLengthInField(0x7f, 16), 16u);  // variable length: the whole field
  CHECK_EQ(cdbLengthInField(0xc0, 16), 16u);  // vendor specific
  CHECK_EQ(cdbLengthInField(0x8a, 12), 12u);
  uint8_t w6[6] = {0x0a, 0, 0, 0, 0, 0};
  CHECK_EQ(writeTransferBlocks(w6, 6), 256u);  // 0 means 256
  CHECK(setWriteTransferBlocks(w6, 6, 7) && w6[4] == 7 && writeTransferBlocks(w6, 6) == 7);
  CHECK(setWriteTransferBlocks(w6, 6, 256) && w6[4] == 0);
  CHECK(!setWriteTransferBlocks(w6, 6, 0) && !setWriteTransferBlocks(w6, 6, 257));
  uint8_t w10[10] = {0x2e, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0};
  CHECK_EQ(writeTransferBlocks(w10, 10), 0x1234u);
  CHECK(setWriteTransferBlocks(w10, 10, 0xffff) && writeTransferBlocks(w10, 10) == 0xffff);
  CHECK(!setWriteTransferBlocks(w10, 10, 0x10000) && !setWriteTransferBlocks(w10, 9, 1));
  uint8_t w16[16] = {0x8a};
  CHECK(setWriteTransferBlocks(w16, 16, 0x01020304) && loadBe32(w16 + 10) == 0x01020304u);
  uint8_t w12[12] = {0xae};
  CHECK(setWriteTransferBlocks(w12, 12, 9) && writeTransferBlocks(w12, 12) == 9);
  uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  CHECK_EQ(writeTransferBlocks(read10, 10), 0u);
  CHECK(!setWriteTransferBlocks(read10, 10, 1));
  CHECK_EQ(writeTransferBlocks(nullptr, 0), 0u);
  CHECK(!setWriteTransferBlocks(nullptr, 0, 1));
}

}  // namespace

// Reads LBA 0 of `lun` through a target's LUN table; the first byte.
uint8_t firstByteThrough(const LunTable& luns, uint64_t lun) {
  std::vector<uint8_t> cdb = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  TaskOutcome out = routeCommand(luns, request(cdb, lun, kBlock, true, false));
  CHECK(out.result.status == Status::kGood && out.result.extents.size() == 1);
  uint8_t byte = 0xEE;
  if (!out.result.extents.empty() && out.result.extents[0].fd >= 0) {
    CHECK(::pread(out.result.extents[0].fd, &byte, 1, static_cast<off_t>(out.result.extents[0].offset)) == 1);
  } else if (!out.result.extents.empty()) {
    byte = 0;  // a hole: zeros
  }
  return byte;
}

void severalLuns() {
  std::fprintf(stderr, "task_router: a target with LUNs 0, 1 and 4\n");
  BlankDisk system, data, shared;
  const LunTable luns = {{0, system.lun.get()}, {1, data.lun.get()}, {4, shared.lun.get()}};
  // A write to LUN 1 lands on LUN 1's disk only; LUN 4's on its own.
  std::vector<uint8_t> ones(kBlock, 0x01), fours(kBlock, 0x04);
  auto w1 = routeCommand(luns, request({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, kBlock, false, true, ones));
  CHECK(w1.result.status == Status::kGood && w1.bytesWritten == kBlock);
  auto w4 = routeCommand(luns, request({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 4, kBlock, false, true, fours));
  CHECK(w4.result.status == Status::kGood && w4.bytesWritten == kBlock);
  CHECK(firstByteThrough(luns, 0) == 0);
  CHECK(firstByteThrough(luns, 1) == 0x01);
  CHECK(firstByteThrough(luns, 4) == 0x04);
  // REPORT LUNS, addressed to any LUN (also a missing one), lists 0, 1 and 4 (peripheral
  // addressing: the LUN in byte 1 of each 8-byte entry).
  for (uint64_t to : {0, 1, 4, 7}) {
    auto list = routeCommand(luns, request({0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0}, to, 64, true, false));
    CHECK(list.result.status == Status::kGood && list.result.data.size() == 32);
    CHECK(loadBe32(list.result.data.data()) == 24);
    CHECK(list.result.data[9] == 0 && list.result.data[17] == 1 && list.result.data[25] == 4);
    CHECK(list.result.data[8] == 0 && list.result.data[16] == 0 && list.result.data[24] == 0);
  }
  // Cut to the allocation length (the LIST LENGTH still says 24); under 16 bytes: refused.
  auto cut = routeCommand(luns, request({0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, 0, 16, true, false));
  CHECK(cut.result.status == Status::kGood && cut.result.data.size() == 16 && loadBe32(cut.result.data.data()) == 24);
  CHECK(hasSense(routeCommand(luns, request({0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, 0, 8, true, false)).result, 5, 0x24, 0));
  CHECK(hasSense(routeCommand(luns, request({0xa0, 0, 0, 0, 0, 0}, 0, 64, true, false)).result, 5, 0x24, 0));
  // SELECT REPORT 01h (well-known LUNs only): an empty list; 03h and up: refused.
  auto wellKnown = routeCommand(luns, request({0xa0, 0, 1, 0, 0, 0, 0, 0, 0, 64, 0, 0}, 0, 64, true, false));
  CHECK(wellKnown.result.status == Status::kGood && wellKnown.result.data.size() == 8 && loadBe32(wellKnown.result.data.data()) == 0);
  CHECK(hasSense(routeCommand(luns, request({0xa0, 0, 3, 0, 0, 0, 0, 0, 0, 64, 0, 0}, 0, 64, true, false)).result, 5, 0x24, 0));
  // A LUN the target does not have: not supported, nothing written anywhere.
  auto missing = routeCommand(luns, request({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 2, kBlock, false, true, ones));
  CHECK(hasSense(missing.result, 5, 0x25, 0) && missing.bytesWritten == 0);
  auto inquiry = routeCommand(luns, request({0x12, 0, 0, 0, 96, 0}, 2, 96, true, false));
  CHECK(inquiry.result.status == Status::kGood && inquiry.result.data[0] == 0x7f);
  CHECK(firstByteThrough(luns, 0) == 0);
}

int main() {
  BlankDisk disk;
  severalLuns();
  missingLun(disk);
  writeLengths(disk);
  refusals();
  cdbHelpers();
  std::printf("task_router: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
