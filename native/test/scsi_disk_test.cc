// The disk LUN fed literal CDB byte arrays over a real CowStore in a temp dir: status, sense
// key / ASC / ASCQ, and the exact bytes of capacity data, VPD pages and mode pages.
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_order.h"
#include "cow/fault_report.h"
#include "cow/store.h"
#include "iscsi/socket_transport.h"
#include "scsi/cdb.h"
#include "scsi/disk_lun.h"
#include "scsi/lun.h"
#include "check.h"

using namespace lanboot::scsi;

namespace {


constexpr uint64_t kBlocks = 4096;  // 2 MiB disk
constexpr uint32_t kBlock = 512;

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/lanboot-scsi-test-XXXXXX";
    char* made = ::mkdtemp(pattern);
    if (!made) std::exit(2);
    path = made;
  }
  ~TempDir() {
    ::nftw(path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
           FTW_DEPTH | FTW_PHYS);
  }
};

struct Fixture {
  TempDir dir;
  std::vector<uint8_t> golden;
  std::shared_ptr<CowStore> store;
  std::shared_ptr<Lun> lun;

  // deltaDir "" = a "delta" directory next to the golden file.
  explicit Fixture(bool readOnly = false, uint64_t quota = 0, const std::string& deltaDir = "") {
    golden.resize(kBlocks * kBlock);
    std::mt19937 rng(42);
    for (auto& b : golden) b = static_cast<uint8_t>(rng());
    std::string goldenPath = dir.path + "/golden.img";
    FILE* f = std::fopen(goldenPath.c_str(), "wb");
    std::fwrite(golden.data(), 1, golden.size(), f);
    std::fclose(f);
    CowStoreOptions options;
    options.goldenPath = goldenPath;
    options.deltaDir = readOnly ? "" : deltaDir.empty() ? dir.path + "/delta" : deltaDir;
    options.readOnly = readOnly;
    options.quotaBytes = quota;
    std::string error;
    store = CowStore::open(options, &error);
    if (!store) {
      std::fprintf(stderr, "store: %s\n", error.c_str());
      std::exit(2);
    }
    DiskIdentity identity;
    identity.serial = "SEAT0001";
    identity.naa = 0x5001405abcdef012ull;
    identity.targetName = "iqn.2026-01.local.lanboot:seat-1";
    lun = makeDiskLun(store, identity);
  }

  CommandResult run(std::initializer_list<uint8_t> cdbBytes, const std::vector<uint8_t>& dataOut = {},
                    uint64_t nexus = 1) {
    std::vector<uint8_t> cdb(cdbBytes);
    CommandRequest request;
    request.cdb = cdb.data();
    request.cdbLength = cdb.size();
    request.nexusId = nexus;
    request.dataOut = dataOut.empty() ? nullptr : dataOut.data();
    request.dataOutLength = dataOut.size();
    request.expectedDataLength = static_cast<uint32_t>(dataOut.size());
    request.writeFlag = !dataOut.empty();
    return lun->execute(request);
  }

  // Data-In as bytes, whether it came from memory or from file extents.
  static std::vector<uint8_t> dataOf(const CommandResult& result) {
    if (result.extents.empty()) return result.data;
    std::vector<uint8_t> out;
    for (const auto& e : result.extents) {
      std::vector<uint8_t> piece(e.length, 0);
      if (e.fd >= 0) CHECK_EQ(::pread(e.fd, piece.data(), e.length, static_cast<off_t>(e.offset)), static_cast<ssize_t>(e.length));
      out.insert(out.end(), piece.begin(), piece.end());
    }
    return out;
  }

  std::vector<uint8_t> readBlocks(uint32_t lba, uint16_t count) {
    auto result = run({0x28, 0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0,
                       uint8_t(count >> 8), uint8_t(count), 0});
    CHECK(result.status == Status::kGood);
    return dataOf(result);
  }
};

bool isGood(const CommandResult& r) { return r.status == Status::kGood && r.sense.empty(); }

bool hasSense(const CommandResult& r, uint8_t key, uint8_t asc, uint8_t ascq) {
  if (r.status != Status::kCheckCondition || r.sense.size() < 18) return false;
  return r.sense[0] == 0x70 + (r.sense[0] & 0x80) && (r.sense[2] & 0x0F) == key && r.sense[12] == asc &&
         r.sense[13] == ascq && r.sense[7] == 10;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) { return lanboot::common::loadBe32(b.data() + at); }
uint64_t be64(const std::vector<uint8_t>& b, size_t at) { return lanboot::common::loadBe64(b.data() + at); }
uint16_t be16(const std::vector<uint8_t>& b, size_t at) { return lanboot::common::loadBe16(b.data() + at); }

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(seed + i * 7);
  return out;
}

// std::vector concatenation for the checks below.
std::vector<uint8_t> operator+(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---------------------------------------------------------------------------------------

void testTestUnitReadyAndRequestSense() {
  Fixture f;
  CHECK(isGood(f.run({0x00, 0, 0, 0, 0, 0})));
  auto sense = f.run({0x03, 0, 0, 0, 252, 0});
  CHECK(isGood(sense));
  CHECK_EQ(sense.data.size(), size_t{18});
  if (sense.data.size() >= 18) {
    CHECK_EQ(sense.data[0], 0x70);
    CHECK_EQ(sense.data[2], 0x00);  // NO SENSE
    CHECK_EQ(sense.data[12], 0x00);
  }
  CHECK(hasSense(f.run({0x03, 0x01, 0, 0, 252, 0}), 0x05, 0x24, 0x00));  // DESC=1 unsupported
  CHECK(isGood(f.run({0x1B, 0, 0, 0, 0x01, 0})));                      // START STOP UNIT start
  CHECK(isGood(f.run({0x1B, 0x01, 0, 0, 0x00, 0})));                   // stop, IMMED
  CHECK(hasSense(f.run({0x1B, 0x01, 0, 0, 0x02, 0}), 0x05, 0x24, 0x00));  // eject: not removable
  CHECK(isGood(f.run({0x1B, 0, 0, 0, 0x32, 0})));                      // power condition: LOEJ ignored
  CHECK(isGood(f.run({0x1E, 0, 0, 0, 0x01, 0})));                      // PREVENT
}

void testStandardInquiry() {
  Fixture f;
  auto r = f.run({0x12, 0, 0, 0, 0xFF, 0});
  CHECK(isGood(r));
  const auto& d = r.data;
  CHECK(d.size() >= 36);
  if (d.size() < 74) return;
  CHECK_EQ(d[0], 0x00);              // connected direct-access block device
  CHECK_EQ(d[1], 0x00);              // not removable
  CHECK_EQ(d[2], 0x06);              // SPC-4
  CHECK_EQ(d[3], 0x12);              // HISUP, response data format 2
  CHECK_EQ(d[4], d.size() - 5);      // additional length
  CHECK_EQ(d[7] & 0x02, 0x02);       // CMDQUE
  CHECK(std::memcmp(&d[8], "LANBOOT ", 8) == 0);
  CHECK(std::memcmp(&d[16], "seat disk       ", 16) == 0);
  CHECK(std::memcmp(&d[32], "0001", 4) == 0);
  CHECK_EQ(be16(d, 58), 0x00A0);     // SAM-5
  CHECK_EQ(be16(d, 60), 0x0960);     // iSCSI
  CHECK_EQ(be16(d, 62), 0x0460);     // SPC-4
  CHECK_EQ(be16(d, 64), 0x04C0);     // SBC-3
  // Allocation length honoured.
  auto shortInquiry = f.run({0x12, 0, 0, 0, 5, 0});
  CHECK(isGood(shortInquiry));
  CHECK_EQ(shortInquiry.data.size(), size_t{5});
  CHECK(isGood(f.run({0x12, 0, 0, 0, 0, 0})) && f.run({0x12, 0, 0, 0, 0, 0}).data.empty());
  // EVPD=0 with a page code: INVALID FIELD IN CDB pointing at byte 2.
  auto bad = f.run({0x12, 0, 0x80, 0, 0xFF, 0});
  CHECK(hasSense(bad, 0x05, 0x24, 0x00));
  if (bad.sense.size() >= 18) {
    CHECK_EQ(bad.sense[15], 0xC0);  // SKSV, C/D=CDB
    CHECK_EQ(bad.sense[17], 2);
  }
  CHECK(hasSense(f.run({0x12, 0x02, 0, 0, 0xFF, 0}), 0x05, 0x24, 0x00));  // CMDDT
  // Inquiry is not blocked by a pending unit attention.
  f.lun->nexusAdded(1);
  f.lun->nexusAdded(2);
  f.lun->logicalUnitReset(2);
  CHECK(isGood(f.run({0x12, 0, 0, 0, 0xFF, 0})));
}

void testVpdPages() {
  Fixture f;
  auto supported = f.run({0x12, 0x01, 0x00, 0, 0xFF, 0});
  CHECK(isGood(supported));
  const std::vector<uint8_t> expectedList = {0x00, 0x00, 0x00, 0x06, 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2};
  CHECK(supported.data == expectedList);

  auto serial = f.run({0x12, 0x01, 0x80, 0, 0xFF, 0});
  CHECK(isGood(serial));
  CHECK(serial.data.size() == 4 + 8 && serial.data[1] == 0x80 && be16(serial.data, 2) == 8 &&
        std::memcmp(&serial.data[4], "SEAT0001", 8) == 0);

  auto ids = f.run({0x12, 0x01, 0x83, 0x01, 0x00, 0});
  CHECK(isGood(ids));
  const auto& d = ids.data;
  CHECK(d.size() >= 4 && d[1] == 0x83 && be16(d, 2) == d.size() - 4);
  bool sawNaa = false, sawName = false;
  for (size_t at = 4; at + 4 <= d.size();) {
    uint8_t codeSet = d[at] & 0x0F, protocol = d[at] >> 4;
    uint8_t type = d[at + 1] & 0x0F, association = (d[at + 1] >> 4) & 0x03;
    bool piv = d[at + 1] & 0x80;
    size_t length = d[at + 3];
    CHECK(at + 4 + length <= d.size());
    if (at + 4 + length > d.size()) break;
    if (type == 3) {
      sawNaa = true;
      CHECK_EQ(codeSet, 1);       // binary
      CHECK_EQ(association, 0);   // logical unit
      CHECK_EQ(length, size_t{8});
      CHECK_EQ(be64(d, at + 4), 0x5001405abcdef012ull);
      CHECK_EQ(d[at + 4] >> 4, 5);  // NAA IEEE Registered
    } else if (type == 8) {
      sawName = true;
      CHECK_EQ(codeSet, 3);       // UTF-8
      CHECK_EQ(protocol, 5);      // iSCSI
      CHECK(piv);
      CHECK_EQ(association, 2);   // target device
      CHECK_EQ(length % 4, size_t{0});
      std::string name(reinterpret_cast<const char*>(&d[at + 4]));
      CHECK(name == "iqn.2026-01.local.lanboot:seat-1");
      CHECK(name.size() < length);  // NUL terminated inside the designator
    }
    at += 4 + length;
  }
  CHECK(sawNaa);
  CHECK(sawName);

  auto limits = f.run({0x12, 0x01, 0xB0, 0, 0xFF, 0});
  CHECK(isGood(limits));
  const auto& b0 = limits.data;
  CHECK(b0.size() == 64 && b0[1] == 0xB0 && be16(b0, 2) == 0x3C);
  if (b0.size() == 64) {
    CHECK_EQ(b0[4] & 0x01, 0x01);  // WSNZ
    CHECK_EQ(be16(b0, 6), 8u);
    CHECK_EQ(be32(b0, 8), disk::kMaxTransferBlocks);
    CHECK_EQ(be32(b0, 20), disk::kMaxUnmapBlocks);
    CHECK_EQ(be32(b0, 24), disk::kMaxUnmapDescriptors);
    CHECK_EQ(be32(b0, 28), 8u);
    CHECK_EQ(be32(b0, 32), 0x80000000u);
    CHECK_EQ(be64(b0, 36), uint64_t{disk::kMaxWriteSameBlocks});
  }
  auto characteristics = f.run({0x12, 0x01, 0xB1, 0, 0xFF, 0});
  CHECK(isGood(characteristics));
  CHECK(characteristics.data.size() == 64 && be16(characteristics.data, 4) == 1);  // non-rotating
  auto provisioning = f.run({0x12, 0x01, 0xB2, 0, 0xFF, 0});
  CHECK(isGood(provisioning));
  CHECK(provisioning.data.size() == 8 && provisioning.data[5] == 0xE0);  // LBPU, LBPWS, LBPWS10, LBPRZ=0
  // Allocation length cuts a VPD page too.
  CHECK_EQ(f.run({0x12, 0x01, 0xB0, 0, 4, 0}).data.size(), size_t{4});
  CHECK(hasSense(f.run({0x12, 0x01, 0x99, 0, 0xFF, 0}), 0x05, 0x24, 0x00));
}

void testReadCapacity() {
  Fixture f;
  auto r10 = f.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(isGood(r10));
  CHECK(r10.data.size() == 8 && be32(r10.data, 0) == kBlocks - 1 && be32(r10.data, 4) == kBlock);
  CHECK(hasSense(f.run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}), 0x05, 0x24, 0x00));  // LBA without PMI
  CHECK(isGood(f.run({0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0})));                      // with PMI

  auto r16 = f.run({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0});
  CHECK(isGood(r16));
  const auto& d = r16.data;
  CHECK_EQ(d.size(), size_t{32});
  if (d.size() == 32) {
    CHECK_EQ(be64(d, 0), kBlocks - 1);
    CHECK_EQ(be32(d, 8), kBlock);
    CHECK_EQ(d[12], 0x00);
    CHECK_EQ(d[13], 0x03);  // 8 logical blocks per 4 KiB physical block
    CHECK_EQ(d[14], 0x80);  // LBPME, LBPRZ=0
  }
  CHECK_EQ(f.run({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0}).data.size(), size_t{12});
  CHECK(hasSense(f.run({0x9E, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}), 0x05, 0x24, 0x00));
  auto lbaStatus = f.run({0x9E, 0x12, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 24, 0, 0});
  CHECK(isGood(lbaStatus));
  CHECK(lbaStatus.data.size() == 24 && be64(lbaStatus.data, 8) == 16 && be32(lbaStatus.data, 16) == kBlocks - 16);
}

void testReads() {
  Fixture f;
  auto r = f.run({0x28, 0, 0, 0, 0, 8, 0, 0, 16, 0});  // READ(10) LBA 8, 16 blocks
  CHECK(isGood(r));
  CHECK(r.data.empty() && !r.extents.empty());  // zero-copy: file extents
  auto bytes = Fixture::dataOf(r);
  CHECK(bytes.size() == 16 * kBlock && std::memcmp(bytes.data(), &f.golden[8 * kBlock], bytes.size()) == 0);
  // READ(6) TRANSFER LENGTH 0 means 256 blocks.
  auto r6 = f.run({0x08, 0, 0, 0, 0, 0});
  CHECK(isGood(r6));
  CHECK_EQ(r6.dataInLength(), uint64_t{256} * kBlock);
  auto r12 = f.run({0xA8, 0, 0, 0, 0x0F, 0xFF, 0, 0, 0, 1, 0, 0});  // last block
  CHECK(isGood(r12));
  CHECK(Fixture::dataOf(r12) == std::vector<uint8_t>(f.golden.end() - kBlock, f.golden.end()));
  auto r16 = f.run({0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0});
  CHECK(isGood(r16) && r16.dataInLength() == 2 * kBlock);
  // Zero blocks: GOOD with no data.
  auto none = f.run({0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(isGood(none) && none.dataInLength() == 0);
  // Out of range: past the end, straddling the end, and a 64-bit LBA that would overflow.
  CHECK(hasSense(f.run({0x28, 0, 0, 0, 0x10, 0x00, 0, 0, 1, 0}), 0x05, 0x21, 0x00));
  CHECK(hasSense(f.run({0xA8, 0, 0, 0, 0x0F, 0xFF, 0, 0, 0, 2, 0, 0}), 0x05, 0x21, 0x00));
  CHECK(hasSense(f.run({0x88, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0}), 0x05, 0x21, 0x00));
  CHECK(hasSense(f.run({0x08, 0x1F, 0xFF, 0xFF, 1, 0}), 0x05, 0x21, 0x00));
  // RDPROTECT without protection information support.
  CHECK(hasSense(f.run({0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0}), 0x05, 0x24, 0x00));
  // More than the maximum read length (2^21 blocks + 1).
  CHECK(hasSense(f.run({0xA8, 0, 0, 0, 0, 0, 0, 0x20, 0x00, 0x01, 0, 0}), 0x05, 0x24, 0x00));
  // DPO and FUA are accepted on reads.
  CHECK(isGood(f.run({0x28, 0x18, 0, 0, 0, 0, 0, 0, 1, 0})));
}

void testWrites() {
  Fixture f;
  auto data = pattern(4 * kBlock, 1);
  CHECK(isGood(f.run({0x2A, 0, 0, 0, 0, 10, 0, 0, 4, 0}, data)));
  CHECK(f.readBlocks(10, 4) == data);
  CHECK(f.readBlocks(9, 1) == std::vector<uint8_t>(&f.golden[9 * kBlock], &f.golden[10 * kBlock]));
  auto one = pattern(kBlock, 2);
  CHECK(isGood(f.run({0x0A, 0, 0, 20, 1, 0}, one)));                                          // WRITE(6)
  CHECK(f.readBlocks(20, 1) == one);
  CHECK(isGood(f.run({0xAA, 0, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0}, one)));                        // WRITE(12)
  CHECK(isGood(f.run({0x8A, 0x08, 0, 0, 0, 0, 0, 0, 0, 22, 0, 0, 0, 1, 0, 0}, one)));         // WRITE(16) FUA
  CHECK(isGood(f.run({0x2E, 0x02, 0, 0, 0, 23, 0, 0, 1, 0}, one)));                          // WRITE AND VERIFY(10)
  CHECK(f.readBlocks(21, 3) == std::vector<uint8_t>() + one + one + one);
  // Data-Out shorter than the CDB asks: only the whole blocks that arrived are written.
  auto twoBlocks = pattern(2 * kBlock, 3);
  auto before = f.readBlocks(30, 2);
  CHECK(isGood(f.run({0x2A, 0, 0, 0, 0, 30, 0, 0, 2, 0}, std::vector<uint8_t>(twoBlocks.begin(), twoBlocks.begin() + kBlock))));
  auto after = f.readBlocks(30, 2);
  CHECK(std::memcmp(after.data(), twoBlocks.data(), kBlock) == 0);
  CHECK(std::memcmp(after.data() + kBlock, before.data() + kBlock, kBlock) == 0);
  CHECK(isGood(f.run({0x2A, 0, 0, 0, 0, 40, 0, 0, 1, 0}, std::vector<uint8_t>(200, 0xAB))));  // < 1 block
  CHECK(f.readBlocks(40, 1) == std::vector<uint8_t>(&f.golden[40 * kBlock], &f.golden[41 * kBlock]));
  // More Data-Out than the CDB asks: only the CDB's blocks.
  CHECK(isGood(f.run({0x2A, 0, 0, 0, 0, 50, 0, 0, 1, 0}, twoBlocks)));
  CHECK(f.readBlocks(51, 1) == std::vector<uint8_t>(&f.golden[51 * kBlock], &f.golden[52 * kBlock]));
  // Out of range and protect fields.
  CHECK(hasSense(f.run({0x2A, 0, 0, 0, 0x0F, 0xFF, 0, 0, 2, 0}, twoBlocks), 0x05, 0x21, 0x00));
  CHECK(hasSense(f.run({0x2A, 0x40, 0, 0, 0, 0, 0, 0, 1, 0}, one), 0x05, 0x24, 0x00));
}

void testWriteProtectAndQuota() {
  Fixture readOnly(true);
  auto one = pattern(kBlock, 4);
  CHECK(hasSense(readOnly.run({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, one), 0x07, 0x27, 0x00));
  CHECK(hasSense(readOnly.run({0x41, 0x08, 0, 0, 0, 0, 0, 0, 8, 0}, std::vector<uint8_t>(kBlock, 0)), 0x07, 0x27, 0x00));
  CHECK(isGood(readOnly.run({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})));
  auto modeSense = readOnly.run({0x1A, 0x08, 0x3F, 0, 0xFF, 0});
  CHECK(isGood(modeSense) && modeSense.data.size() > 3 && (modeSense.data[2] & 0x80));  // WP
  auto provisioning = readOnly.run({0x12, 0x01, 0xB2, 0, 0xFF, 0});
  CHECK(isGood(provisioning) && provisioning.data.size() == 8 && provisioning.data[5] == 0);  // no LBPU
  auto capacity = readOnly.run({0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0});
  CHECK(isGood(capacity) && capacity.data.size() == 32 && capacity.data[14] == 0);            // no LBPME

  Fixture small(false, 8 * 4096);
  auto big = pattern(8 * 8 * kBlock, 5);  // 8 chunks: exactly the quota
  CHECK(isGood(small.run({0x2A, 0, 0, 0, 0, 0, 0, 0, 64, 0}, big)));
  CHECK(hasSense(small.run({0x2A, 0, 0, 0, 1, 0, 0, 0, 1, 0}, one), 0x07, 0x27, 0x07));
  // Every write path maps the store's quota code to the same sense, not to a MEDIUM ERROR.
  CHECK(hasSense(small.run({0x41, 0, 0, 0, 1, 0, 0, 0, 8, 0}, one), 0x07, 0x27, 0x07));  // WRITE SAME, pattern
  CHECK(hasSense(small.run({0x41, 0, 0, 0, 1, 0, 0, 0, 1, 0}, std::vector<uint8_t>(kBlock, 0)), 0x07, 0x27,
                 0x07));  // WRITE SAME of zeros over part of a chunk: a real write
  std::vector<uint8_t> compareThenWrite(&small.golden[256 * kBlock], &small.golden[257 * kBlock]);
  CHECK(hasSense(small.run({0x89, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0}, compareThenWrite + one), 0x07, 0x27,
                 0x07));  // COMPARE AND WRITE that matches golden, then needs a new chunk
  CHECK(small.readBlocks(256, 1) == std::vector<uint8_t>(&small.golden[256 * kBlock], &small.golden[257 * kBlock]));
}

// A full data disk gives the initiator the same sense as the seat's quota: SPACE ALLOCATION
// FAILED WRITE PROTECT (SBC-3 4.7.3.6). The delta lives on a 256 KiB tmpfs mounted in a
// private mount namespace of a child process, so the mount goes away with the child.
void testDiskFullSenseEqualsQuotaSense() {
  TempDir outer;
  const std::string mountPoint = outer.path + "/small";
  CHECK_EQ(::mkdir(mountPoint.c_str(), 0700), 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Exit codes tell the parent which step failed.
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
    if (::mount("tmpfs", mountPoint.c_str(), "tmpfs", 0, "size=256k") != 0) ::_exit(12);
    int code = 0;
    {
      Fixture full(false, 0, mountPoint + "/delta");
      auto write10 = [&](uint32_t lba, uint16_t count, const std::vector<uint8_t>& data) {
        return full.run({0x2A, 0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0,
                         uint8_t(count >> 8), uint8_t(count), 0},
                        data);
      };
      const auto data = pattern(64 * kBlock, 9);
      uint32_t lba = 0;
      CommandResult refused;
      for (; lba < kBlocks; lba += 64) {
        refused = write10(lba, 64, data);
        if (!isGood(refused)) break;
      }
      const std::vector<uint8_t> one(data.begin(), data.begin() + kBlock);
      if (lba == 0) code = 13;                                      // nothing fit at all
      else if (lba >= kBlocks) code = 14;                           // the tmpfs never filled
      else if (!hasSense(refused, 0x07, 0x27, 0x07)) code = 15;     // WRITE
      else if (!hasSense(full.run({0x41, 0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0, 0, 64, 0},
                                  one),
                         0x07, 0x27, 0x07))
        code = 16;  // WRITE SAME
      else if (full.readBlocks(lba, 1) !=
               std::vector<uint8_t>(&full.golden[lba * kBlock], &full.golden[(lba + 1) * kBlock]))
        code = 17;  // the refused writes changed nothing
    }
    ::umount(mountPoint.c_str());
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
}

void testVerify() {
  Fixture f;
  std::vector<uint8_t> same(&f.golden[100 * kBlock], &f.golden[102 * kBlock]);
  CHECK(isGood(f.run({0x2F, 0x02, 0, 0, 0, 100, 0, 0, 2, 0}, same)));           // BYTCHK=1, equal
  CHECK(isGood(f.run({0x2F, 0x00, 0, 0, 0, 100, 0, 0, 2, 0})));                 // BYTCHK=0
  auto changed = same;
  changed[700] ^= 0xFF;
  auto miscompare = f.run({0x2F, 0x02, 0, 0, 0, 100, 0, 0, 2, 0}, changed);
  CHECK(hasSense(miscompare, 0x0E, 0x1D, 0x00));
  if (miscompare.sense.size() >= 18) {
    CHECK_EQ(miscompare.sense[0] & 0x80, 0x80);  // INFORMATION valid
    CHECK_EQ(be32(miscompare.sense, 3), 700u);   // offset of the first differing byte
  }
  CHECK(hasSense(f.run({0xAF, 0x02, 0, 0, 0, 100, 0, 0, 0, 2, 0, 0}, changed), 0x0E, 0x1D, 0x00));  // VERIFY(12)
  CHECK(isGood(f.run({0x8F, 0x02, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 2, 0, 0}, same)));             // VERIFY(16)
  CHECK(hasSense(f.run({0x8F, 0x00, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0}), 0x05, 0x21, 0x00));
  CHECK(hasSense(f.run({0x2F, 0x04, 0, 0, 0, 100, 0, 0, 2, 0}, same), 0x05, 0x24, 0x00));          // BYTCHK=10b
  CHECK(hasSense(f.run({0x2F, 0xE0, 0, 0, 0, 100, 0, 0, 2, 0}, same), 0x05, 0x24, 0x00));          // VRPROTECT
  // BYTCHK=11b: one block compared with every block.
  std::vector<uint8_t> block(kBlock, 0x3C);
  CHECK(isGood(f.run({0x41, 0, 0, 0, 0, 200, 0, 0, 4, 0}, block)));
  CHECK(isGood(f.run({0x2F, 0x06, 0, 0, 0, 200, 0, 0, 4, 0}, block)));
  block[5] = 0;
  CHECK(hasSense(f.run({0x2F, 0x06, 0, 0, 0, 200, 0, 0, 4, 0}, block), 0x0E, 0x1D, 0x00));
}

void testWriteSameAndUnmap() {
  Fixture f;
  auto block = pattern(kBlock, 9);
  CHECK(isGood(f.run({0x41, 0, 0, 0, 0, 64, 0, 0, 10, 0}, block)));  // WRITE SAME(10), 10 blocks
  auto written = f.readBlocks(64, 10);
  bool allPattern = true;
  for (int i = 0; i < 10; ++i) allPattern = allPattern && std::memcmp(&written[i * kBlock], block.data(), kBlock) == 0;
  CHECK(allPattern);
  // WRITE SAME(16) NDOB: zeros, no Data-Out.
  CHECK(isGood(f.run({0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 80, 0, 0, 0, 20, 0, 0})));
  auto zeros = f.readBlocks(80, 20);
  CHECK(zeros == std::vector<uint8_t>(20 * kBlock, 0));
  // UNMAP bit with a zero block: must read zeros afterwards (LBPRZ=0 would give golden).
  CHECK(isGood(f.run({0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 16, 0, 0}, std::vector<uint8_t>(kBlock, 0))));
  CHECK(f.readBlocks(160, 16) == std::vector<uint8_t>(16 * kBlock, 0));
  CHECK(hasSense(f.run({0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0}, block), 0x05, 0x24, 0x00));     // 0 blocks, WSNZ=1
  CHECK(hasSense(f.run({0x41, 0x10, 0, 0, 0, 0, 0, 0, 1, 0}, block), 0x05, 0x24, 0x00));  // ANCHOR
  CHECK(hasSense(f.run({0x41, 0x02, 0, 0, 0, 0, 0, 0, 1, 0}, block), 0x05, 0x24, 0x00));  // LBDATA
  CHECK(hasSense(f.run({0x41, 0, 0, 0, 0x0F, 0xFF, 0, 0, 2, 0}, block), 0x05, 0x21, 0x00));
  // Data-Out of other than one block: refused, nothing written.
  CHECK(hasSense(f.run({0x41, 0x08, 0, 0, 0, 64, 0, 0, 1, 0}, std::vector<uint8_t>(kBlock / 2, 0)), 0x05, 0x24, 0x00));
  CHECK(hasSense(f.run({0x41, 0x08, 0, 0, 0, 64, 0, 0, 1, 0}, std::vector<uint8_t>(2 * kBlock, 0)), 0x05, 0x24, 0x00));
  CHECK(std::memcmp(f.readBlocks(64, 1).data(), block.data(), kBlock) == 0);

  // UNMAP: blocks 256..271 (two chunks) read golden again afterwards.
  std::vector<uint8_t> data(16 * kBlock, 0x77);
  CHECK(isGood(f.run({0x2A, 0, 0, 0, 1, 0, 0, 0, 16, 0}, data)));
  std::vector<uint8_t> list = {0, 22, 0, 16, 0, 0, 0, 0, /* descriptor */ 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 16, 0, 0, 0, 0};
  CHECK(isGood(f.run({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, list)));
  CHECK(f.readBlocks(256, 16) == std::vector<uint8_t>(&f.golden[256 * kBlock], &f.golden[272 * kBlock]));
  CHECK(isGood(f.run({0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0})));                                             // empty list
  CHECK(hasSense(f.run({0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0}, {0, 2, 0, 0}), 0x05, 0x1A, 0x00));              // < header
  std::vector<uint8_t> outOfRange = list;
  outOfRange[14] = 0x10;  // LBA 0x1000 = 4096 = end of disk, 16 blocks
  CHECK(hasSense(f.run({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, outOfRange), 0x05, 0x21, 0x00));
  std::vector<uint8_t> many(8 + 16 * 257, 0);
  many[2] = static_cast<uint8_t>((16 * 257) >> 8);
  many[3] = static_cast<uint8_t>(16 * 257);
  CHECK(hasSense(f.run({0x42, 0, 0, 0, 0, 0, 0, uint8_t(many.size() >> 8), uint8_t(many.size()), 0}, many), 0x05, 0x26, 0x00));
  CHECK(hasSense(f.run({0x42, 0x01, 0, 0, 0, 0, 0, 0, 24, 0}, list), 0x05, 0x24, 0x00));  // ANCHOR
  // A descriptor length past the data actually sent is clipped, not trusted.
  std::vector<uint8_t> lying = {0, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0};
  CHECK(isGood(f.run({0x42, 0, 0, 0, 0, 0, 0, 0, 8, 0}, lying)));
}

void testCompareAndWrite() {
  Fixture f;
  std::vector<uint8_t> current(&f.golden[300 * kBlock], &f.golden[301 * kBlock]);
  auto replacement = pattern(kBlock, 11);
  std::vector<uint8_t> both = current;
  both.insert(both.end(), replacement.begin(), replacement.end());
  // COMPARE AND WRITE(16), LBA 300, 1 block: matches, so the block is replaced.
  CHECK(isGood(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 1, 0, 0}, both)));
  CHECK(f.readBlocks(300, 1) == replacement);
  // Same request again: the medium no longer matches; MISCOMPARE, nothing written.
  auto again = f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 1, 0, 0}, both);
  CHECK(hasSense(again, 0x0E, 0x1D, 0x00));
  if (again.sense.size() >= 18) CHECK_EQ(again.sense[0] & 0x80, 0x80);
  CHECK(f.readBlocks(300, 1) == replacement);
  CHECK(hasSense(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 2, 0, 0}, both), 0x05, 0x24, 0x00));  // > max
  CHECK(hasSense(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 1, 0, 0}, both), 0x05, 0x21, 0x00));  // past end
  CHECK(hasSense(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 1, 0, 0}, current), 0x05, 0x24, 0x00));  // half the data
  CHECK(isGood(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 0, 0, 0})));  // 0 blocks
  CHECK(hasSense(f.run({0x89, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2C, 0, 0, 0, 0, 0, 0}, both), 0x05, 0x24, 0x00));  // 0 + data
  auto limits = f.run({0x12, 0x01, 0xB0, 0, 0xFF, 0});
  CHECK(limits.data.size() > 5 && limits.data[5] == 1);
}

void testSynchronizeCacheAndPrefetch() {
  Fixture f;
  CHECK(isGood(f.run({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  CHECK(isGood(f.run({0x35, 0x02, 0, 0, 0, 0, 0, 0, 0, 0})));  // IMMED
  CHECK(isGood(f.run({0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0})));
  CHECK(hasSense(f.run({0x35, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 0}), 0x05, 0x21, 0x00));
  CHECK(isGood(f.run({0x34, 0, 0, 0, 0, 0, 0, 0, 8, 0})));
  CHECK(hasSense(f.run({0x90, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 8, 0, 0}), 0x05, 0x21, 0x00));
}

// Finds page `code` in MODE SENSE data after `offset`.
const uint8_t* findPage(const std::vector<uint8_t>& d, size_t offset, uint8_t code) {
  while (offset + 2 <= d.size()) {
    if ((d[offset] & 0x3F) == code) return &d[offset];
    offset += 2 + d[offset + 1];
  }
  return nullptr;
}

void testModeSense() {
  Fixture f;
  auto all6 = f.run({0x1A, 0, 0x3F, 0, 0xFF, 0});
  CHECK(isGood(all6));
  const auto& d = all6.data;
  CHECK(d.size() == 4 + 8 + 20 + 12 + 12);
  if (d.size() != 4 + 8 + 20 + 12 + 12) return;
  CHECK_EQ(d[0], d.size() - 1);   // MODE DATA LENGTH
  CHECK_EQ(d[2], 0x10);           // DPOFUA, not WP
  CHECK_EQ(d[3], 8);              // one short block descriptor
  CHECK_EQ(be32(d, 4), kBlocks);
  CHECK_EQ(be32(d, 8) & 0xFFFFFF, kBlock);
  CHECK_EQ(d[12], 0x08);          // caching first (ascending page order)
  CHECK_EQ(d[13], 0x12);
  CHECK_EQ(d[14] & 0x04, 0x04);   // WCE
  CHECK_EQ(d[14] & 0x01, 0x00);   // RCD=0
  CHECK_EQ(d[32], 0x0A);
  CHECK_EQ(d[33], 0x0A);
  CHECK_EQ(d[44], 0x1C);
  CHECK_EQ(d[45], 0x0A);
  // DBD: no block descriptor; single page.
  auto caching = f.run({0x1A, 0x08, 0x08, 0, 0xFF, 0});
  CHECK(isGood(caching) && caching.data.size() == 24 && caching.data[3] == 0 && caching.data[4] == 0x08);
  // Changeable values: nothing can be changed.
  auto changeable = f.run({0x1A, 0x08, 0x48, 0, 0xFF, 0});
  CHECK(isGood(changeable) && changeable.data.size() == 24 && changeable.data[6] == 0);
  auto defaults = f.run({0x1A, 0x08, 0x88, 0, 0xFF, 0});
  CHECK(isGood(defaults) && defaults.data.size() == 24 && (defaults.data[6] & 0x04));
  CHECK(hasSense(f.run({0x1A, 0x08, 0xC8, 0, 0xFF, 0}), 0x05, 0x39, 0x00));  // saved
  CHECK(hasSense(f.run({0x1A, 0, 0x19, 0, 0xFF, 0}), 0x05, 0x24, 0x00));     // no such page
  CHECK(hasSense(f.run({0x1A, 0, 0x08, 0x01, 0xFF, 0}), 0x05, 0x24, 0x00));  // subpage
  CHECK(isGood(f.run({0x1A, 0, 0x3F, 0xFF, 0xFF, 0})));                      // all pages + subpages
  CHECK_EQ(f.run({0x1A, 0, 0x3F, 0, 4, 0}).data.size(), size_t{4});          // allocation length

  // MODE SENSE(10) with a long LBA descriptor.
  auto ten = f.run({0x5A, 0x10, 0x1C, 0, 0, 0, 0, 0x01, 0x00, 0});
  CHECK(isGood(ten));
  const auto& t = ten.data;
  CHECK(t.size() == 8 + 16 + 12);
  if (t.size() == 8 + 16 + 12) {
    CHECK_EQ(be16(t, 0), t.size() - 2);
    CHECK_EQ(t[3], 0x10);
    CHECK_EQ(t[4] & 0x01, 0x01);  // LONGLBA
    CHECK_EQ(be16(t, 6), 16);
    CHECK_EQ(be64(t, 8), kBlocks);
    CHECK_EQ(be32(t, 20), kBlock);
    const uint8_t* ie = findPage(t, 24, 0x1C);
    CHECK(ie != nullptr && ie[1] == 0x0A && (ie[2] & 0x08));
  }
  auto tenAll = f.run({0x5A, 0x08, 0x3F, 0, 0, 0, 0, 0x01, 0x00, 0});
  CHECK(isGood(tenAll) && tenAll.data.size() == 8 + 44);
  CHECK(tenAll.data.size() > 8 && findPage(tenAll.data, 8, 0x0A) != nullptr);
}

void testReportLunsAndOpcodes() {
  Fixture f;
  auto luns = f.run({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0});
  CHECK(isGood(luns));
  CHECK(luns.data == std::vector<uint8_t>({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(hasSense(f.run({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}), 0x05, 0x24, 0x00));  // < 16
  CHECK(hasSense(f.run({0xA0, 0, 0x03, 0, 0, 0, 0, 0, 0x01, 0, 0, 0}), 0x05, 0x24, 0x00));

  auto all = f.run({0xA3, 0x0C, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
  CHECK(isGood(all));
  bool sawRead10 = false;
  if (all.data.size() >= 4) {
    CHECK_EQ(be32(all.data, 0), all.data.size() - 4);
    for (size_t at = 4; at + 8 <= all.data.size(); at += 8)
      if (all.data[at] == 0x28) sawRead10 = be16(all.data, at + 6) == 10;
  }
  CHECK(sawRead10);
  auto one = f.run({0xA3, 0x0C, 0x01, 0x28, 0, 0, 0, 0, 0x01, 0, 0, 0});
  CHECK(isGood(one));
  CHECK(one.data.size() == 14 && (one.data[1] & 0x07) == 3 && be16(one.data, 2) == 10 && one.data[4] == 0x28);
  auto unsupported = f.run({0xA3, 0x0C, 0x01, 0xC5, 0, 0, 0, 0, 0x01, 0, 0, 0});
  CHECK(isGood(unsupported) && unsupported.data.size() == 4 && (unsupported.data[1] & 0x07) == 1);
  auto withSa = f.run({0xA3, 0x0C, 0x02, 0x9E, 0, 0x10, 0, 0, 0x01, 0, 0, 0});
  CHECK(isGood(withSa) && withSa.data.size() == 20 && (withSa.data[1] & 0x07) == 3);
  CHECK(hasSense(f.run({0xA3, 0x0C, 0x01, 0x9E, 0, 0, 0, 0, 0x01, 0, 0, 0}), 0x05, 0x24, 0x00));
  CHECK(hasSense(f.run({0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0}), 0x05, 0x24, 0x00));  // other SA

  auto defects = f.run({0x37, 0, 0x18, 0, 0, 0, 0, 0, 0xFF, 0});
  CHECK(isGood(defects) && defects.data == std::vector<uint8_t>(4, 0));
}

void testInvalidCommands() {
  Fixture f;
  for (uint8_t opcode : {0xC0, 0x15, 0x55, 0x5E, 0x5F, 0x7F, 0x04, 0xFF}) {
    auto r = f.run({opcode, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    CHECK(hasSense(r, 0x05, 0x20, 0x00));
  }
  CHECK(hasSense(f.run({0x00, 0, 0, 0, 0, 0x04}), 0x05, 0x24, 0x00));  // NACA in CONTROL
  CHECK(hasSense(f.run({0x28, 0, 0, 0, 0, 0}), 0x05, 0x24, 0x00));     // 6 bytes of a 10-byte CDB
  CommandRequest empty;
  CHECK(hasSense(f.lun->execute(empty), 0x05, 0x20, 0x00));            // no CDB at all
}

void testUnitAttentionAfterReset() {
  Fixture f;
  f.lun->nexusAdded(1);
  f.lun->nexusAdded(2);
  f.lun->nexusAdded(3);
  f.lun->logicalUnitReset(1);
  CHECK(isGood(f.run({0x00, 0, 0, 0, 0, 0}, {}, 1)));                                 // the resetter: none
  CHECK(hasSense(f.run({0x00, 0, 0, 0, 0, 0}, {}, 2), 0x06, 0x29, 0x03));             // reported once
  CHECK(isGood(f.run({0x00, 0, 0, 0, 0, 0}, {}, 2)));
  CHECK(isGood(f.run({0xA0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0}, {}, 3)));            // REPORT LUNS: kept
  auto sense = f.run({0x03, 0, 0, 0, 18, 0}, {}, 3);                                  // REQUEST SENSE: returned
  CHECK(isGood(sense) && sense.data.size() == 18 && sense.data[2] == 0x06 && sense.data[12] == 0x29);
  CHECK(isGood(f.run({0x00, 0, 0, 0, 0, 0}, {}, 3)));
  f.lun->nexusRemoved(2);
  f.lun->logicalUnitReset(3);
  CHECK(isGood(f.run({0x00, 0, 0, 0, 0, 0}, {}, 4)));  // a nexus that did not exist at the reset
}

void testDataOutLengthFromCdb() {
  Fixture f;
  auto len = [&](std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> cdb(bytes);
    return f.lun->dataOutLengthFromCdb(cdb.data(), cdb.size());
  };
  CHECK_EQ(len({0x2A, 0, 0, 0, 0, 0, 0, 0, 8, 0}), uint64_t{4096});
  CHECK_EQ(len({0x0A, 0, 0, 0, 0, 0}), uint64_t{256 * 512});
  CHECK_EQ(len({0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0}), uint64_t{65536} * 512);
  CHECK_EQ(len({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}), uint64_t{24});
  CHECK_EQ(len({0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}), uint64_t{1024});
  CHECK_EQ(len({0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}), uint64_t{0});  // NDOB
  CHECK_EQ(len({0x41, 0, 0, 0, 0, 0, 0, 0, 8, 0}), uint64_t{512});
  CHECK_EQ(len({0x2F, 0x02, 0, 0, 0, 0, 0, 0, 3, 0}), uint64_t{1536});
  CHECK_EQ(len({0x2F, 0x06, 0, 0, 0, 0, 0, 0, 3, 0}), uint64_t{512});
  CHECK_EQ(len({0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}), uint64_t{0});
  CHECK_EQ(len({0xC0, 0, 0, 0, 0, 0}), uint64_t{0});
  CHECK_EQ(len({0x2A, 0, 0}), uint64_t{0});  // truncated CDB
}

// A store whose blocks [kBadFirst, kBadEnd) sit on a failing disk. The failure is the
// kernel's own: /proc/self/mem at offset 0 (the unmapped NULL page) fails pread(2) with EIO,
// and sendfile(2) cannot read it either. Everything else comes from the real store.
constexpr uint64_t kBadFirst = 64 * kBlock;
constexpr uint64_t kBadEnd = 72 * kBlock;

class FailingDiskStore final : public CowStore {
 public:
  explicit FailingDiskStore(std::shared_ptr<CowStore> inner) : inner_(std::move(inner)) {
    failingFd_ = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    CHECK(failingFd_ >= 0);
  }
  ~FailingDiskStore() override { ::close(failingFd_); }
  bool hits(uint64_t offset, uint64_t length) const { return offset < kBadEnd && offset + length > kBadFirst; }
  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  bool readOnly() const override { return inner_->readOnly(); }
  int readExtents(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) override {
    if (!hits(offset, length)) return inner_->readExtents(offset, length, out);
    out.push_back(FileExtent{failingFd_, 0, static_cast<uint32_t>(length)});
    return 0;
  }
  int read(uint64_t offset, uint64_t length, uint8_t* out) override {
    if (!hits(offset, length)) return inner_->read(offset, length, out);
    std::vector<uint8_t> probe(kBlock);
    ssize_t got = ::pread(failingFd_, probe.data(), probe.size(), 0);
    CHECK(got < 0 && errno == EIO);  // the fault really is the kernel's EIO
    return got < 0 ? -errno : -EIO;
  }
  int write(uint64_t o, const uint8_t* d, uint64_t l, bool fua) override { return inner_->write(o, d, l, fua); }
  int writeZeroes(uint64_t o, uint64_t l, bool fua) override { return inner_->writeZeroes(o, l, fua); }
  int compareAndWrite(uint64_t o, const uint8_t* e, const uint8_t* r, uint64_t l, bool fua, uint64_t* m) override {
    return inner_->compareAndWrite(o, e, r, l, fua, m);
  }
  int discard(uint64_t o, uint64_t l) override { return inner_->discard(o, l); }
  int flush() override { return inner_->flush(); }
  int reset() override { return inner_->reset(); }
  uint64_t deltaBytesUsed() const override { return inner_->deltaBytesUsed(); }
  void setQuotaBytes(uint64_t q) override { inner_->setQuotaBytes(q); }
  int exportTo(int fd, const std::function<void(uint64_t)>& p) override { return inner_->exportTo(fd, p); }

 private:
  std::shared_ptr<CowStore> inner_;
  int failingFd_ = -1;
};

// An unreadable block: the zero-copy send fails on the file side (never zeros on the wire),
// the LUN is told and from then on answers READs of it with MEDIUM ERROR / UNRECOVERED READ
// ERROR (03h/11h/00h), while the other blocks still read right; the fault is reported once
// (rate limited) as "io-error"; a failing disk's write refusal for space stays 07h/27h/07h.
void testUnreadableBlockGivesMediumError() {
  Fixture f;
  std::vector<FaultReportingStore::Fault> faults;
  auto reporting = std::make_shared<FaultReportingStore>(
      std::make_shared<FailingDiskStore>(f.store), 0, [&](const FaultReportingStore::Fault& fault) { faults.push_back(fault); });
  DiskIdentity identity;
  identity.targetName = "iqn.2026-01.local.lanboot:seat-faulty";
  auto lun = makeDiskLun(reporting, identity);
  auto read10 = [&](uint32_t lba, uint16_t count) {
    std::vector<uint8_t> cdb = {0x28, 0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0, uint8_t(count >> 8), uint8_t(count), 0};
    CommandRequest request;
    request.cdb = cdb.data();
    request.cdbLength = cdb.size();
    request.nexusId = 1;
    request.readFlag = true;
    request.expectedDataLength = count * kBlock;
    return lun->execute(request);
  };
  // Zero-copy first: the LUN cannot know yet; the extents go to the transport.
  auto first = read10(60, 8);
  CHECK(isGood(first) && !first.extents.empty());
  int fds[2];
  CHECK_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    lanboot::iscsi::SocketTransport transport(fds[0]);
    lanboot::iscsi::Bhs bhs{};
    lanboot::common::storeBe24(bhs.data() + 5, uint32_t(8 * kBlock));
    // The unix socket's buffer takes 4 KiB without a reader.
    auto outcome = transport.sendPduFromFiles(bhs, first.extents);
    CHECK(outcome == lanboot::iscsi::PduTransport::FileSend::kFileFailed);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  lun->noteReadFault(EIO);
  CHECK_EQ(faults.size(), size_t{1});
  if (!faults.empty()) CHECK(faults[0].reason == "io-error" && faults[0].operation == "read" && faults[0].error == EIO);
  // From now on: sense data for the bad blocks, data for the good ones (from memory).
  auto bad = read10(66, 1);
  CHECK(hasSense(bad, 0x03, 0x11, 0x00));
  CHECK(bad.data.empty() && bad.extents.empty());
  CHECK(hasSense(read10(60, 8), 0x03, 0x11, 0x00));  // straddles into the bad range
  auto good = read10(8, 16);
  CHECK(isGood(good) && good.extents.empty());
  CHECK(good.data == std::vector<uint8_t>(&f.golden[8 * kBlock], &f.golden[24 * kBlock]));
  CHECK_EQ(faults.size(), size_t{1});  // rate limited: one report per 10 s
}

}  // namespace

int main() {
  struct Case {
    const char* name;
    void (*run)();
  } cases[] = {
      {"TEST UNIT READY, REQUEST SENSE, START STOP, PREVENT", testTestUnitReadyAndRequestSense},
      {"standard INQUIRY", testStandardInquiry},
      {"VPD pages", testVpdPages},
      {"READ CAPACITY 10/16, GET LBA STATUS", testReadCapacity},
      {"READ 6/10/12/16", testReads},
      {"WRITE 6/10/12/16, WRITE AND VERIFY, residuals", testWrites},
      {"write protect and quota sense", testWriteProtectAndQuota},
      {"disk full sense equals quota sense", testDiskFullSenseEqualsQuotaSense},
      {"VERIFY BYTCHK 0/1/3 and MISCOMPARE", testVerify},
      {"WRITE SAME and UNMAP", testWriteSameAndUnmap},
      {"COMPARE AND WRITE", testCompareAndWrite},
      {"SYNCHRONIZE CACHE and PRE-FETCH", testSynchronizeCacheAndPrefetch},
      {"MODE SENSE 6/10", testModeSense},
      {"REPORT LUNS, REPORT SUPPORTED OPERATION CODES, READ DEFECT DATA", testReportLunsAndOpcodes},
      {"invalid commands", testInvalidCommands},
      {"unit attention after LOGICAL UNIT RESET", testUnitAttentionAfterReset},
      {"Data-Out length from the CDB", testDataOutLengthFromCdb},
      {"unreadable block: MEDIUM ERROR, never zeros", testUnreadableBlockGivesMediumError},
  };
  for (const auto& c : cases) {
    int before = failures;
    std::printf("scsi_disk: %s\n", c.name);
    c.run();
    if (failures != before) std::printf("  FAILED (%d checks)\n", failures - before);
  }
  std::printf("scsi_disk: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
