// The connection state machine (native/src/iscsi/connection.*) driven by literal PDU bytes
// through an in-memory transport: login, Data-In sequencing, R2T / unsolicited / immediate
// data, the CmdSN window, TMF, SendTargets, logout and the protocol-error paths.
// The LUN here is a small RAM disk written for this test (the real one is native/src/scsi,
// which has its own tests); it exists so this file tests the transport alone.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/byte_order.h"
#include "iscsi/connection.h"
#include "check.h"


using namespace lanboot;
using namespace lanboot::iscsi;
using common::loadBe16;
using common::loadBe24;
using common::loadBe32;
using common::storeBe16;
using common::storeBe24;
using common::storeBe32;

namespace {

constexpr uint32_t kBlock = 512;

// RAM disk: TEST UNIT READY, INQUIRY, READ CAPACITY(10), READ(10), WRITE(10), REPORT LUNS.
// READs come back as file extents of a memfd, so the zero-copy path is exercised too.
class RamLun : public scsi::Lun {
 public:
  explicit RamLun(uint32_t blocks) : disk_(size_t(blocks) * kBlock) {
    for (size_t i = 0; i < disk_.size(); ++i) disk_[i] = uint8_t(i * 7 + i / kBlock);
    fd_ = memfd_create("ramlun", MFD_CLOEXEC);
    sync();
  }
  ~RamLun() override { close(fd_); }
  uint64_t dataOutLengthFromCdb(const uint8_t* cdb, size_t) const override {
    return cdb[0] == 0x2a ? uint64_t(loadBe16(cdb + 7)) * kBlock : 0;
  }
  scsi::CommandResult execute(const scsi::CommandRequest& r) override {
    scsi::CommandResult result;
    const uint8_t* c = r.cdb;
    switch (c[0]) {
      case 0x00:
        break;
      case 0x12: {
        std::vector<uint8_t> inquiry(36, 0);
        inquiry[2] = 6;
        inquiry[4] = 31;
        std::memcpy(inquiry.data() + 8, "RAMDISK ", 8);
        inquiry.resize(std::min<size_t>(inquiry.size(), loadBe16(c + 3)));
        result.data = inquiry;
        break;
      }
      case 0x25:
        result.data.resize(8);
        storeBe32(result.data.data(), uint32_t(disk_.size() / kBlock - 1));
        storeBe32(result.data.data() + 4, kBlock);
        break;
      case 0x28: {
        uint64_t lba = loadBe32(c + 2), blocks = loadBe16(c + 7);
        if ((lba + blocks) * kBlock > disk_.size()) return illegal(0x21);
        if (blocks) result.extents.push_back(scsi::FileExtent{fd_, lba * kBlock, uint32_t(blocks * kBlock)});
        break;
      }
      case 0x2a: {
        uint64_t lba = loadBe32(c + 2), blocks = loadBe16(c + 7);
        if ((lba + blocks) * kBlock > disk_.size()) return illegal(0x21);
        writes++;
        lastWriteLength = r.dataOutLength;
        std::memcpy(disk_.data() + lba * kBlock, r.dataOut, std::min<size_t>(r.dataOutLength, blocks * kBlock));
        sync();
        break;
      }
      case 0xa0:
        result.data = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        break;
      default:
        return illegal(0x20);
    }
    return result;
  }
  void logicalUnitReset(uint64_t) override { resets++; }
  void nexusAdded(uint64_t) override { nexuses++; }
  void nexusRemoved(uint64_t) override { nexuses--; }
  int flush() override { return 0; }

  std::vector<uint8_t> disk_;
  int writes = 0;
  size_t lastWriteLength = 0;
  int resets = 0;
  int nexuses = 0;

 private:
  static scsi::CommandResult illegal(uint8_t asc) {
    scsi::CommandResult result;
    result.status = scsi::Status::kCheckCondition;
    result.sense = {0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, 0, 0, 0, 0, 0};
    return result;
  }
  void sync() { pwrite(fd_, disk_.data(), disk_.size(), 0); }
  int fd_ = -1;
};

struct Captured {
  Bhs bhs;
  std::vector<uint8_t> data;
  uint8_t opcode() const { return bhs[0] & 0x3f; }
  uint32_t itt() const { return loadBe32(bhs.data() + 16); }
  uint32_t statSn() const { return loadBe32(bhs.data() + 24); }
};

class MemoryTransport : public PduTransport {
 public:
  std::vector<uint8_t> input;
  size_t position = 0;
  std::vector<Captured> output;
  bool readExact(uint8_t* buffer, size_t length) override {
    if (input.size() - position < length) return false;
    std::memcpy(buffer, input.data() + position, length);
    position += length;
    return true;
  }
  bool sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) override {
    CHECK(loadBe24(bhs.data() + 5) == length);
    output.push_back(Captured{bhs, std::vector<uint8_t>(data, data + length)});
    return true;
  }
  FileSend sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) override {
    Captured c{bhs, {}};
    for (const auto& piece : pieces) {
      size_t start = c.data.size();
      c.data.resize(start + piece.length);
      if (piece.fd >= 0) CHECK(pread(piece.fd, c.data.data() + start, piece.length, off_t(piece.offset)) == ssize_t(piece.length));
    }
    CHECK(loadBe24(bhs.data() + 5) == c.data.size());
    output.push_back(std::move(c));
    return FileSend::kSent;
  }
};

class FakeHost : public ConnectionHost {
 public:
  std::shared_ptr<RamLun> lun = std::make_shared<RamLun>(256);
  std::vector<EngineEvent> events;
  std::vector<std::string> dropped;
  std::vector<std::string> extraTargets;
  std::optional<LoginTargetInfo> findTarget(const std::string& target, const std::string& initiator) override {
    if (target != "iqn.2026-01.lanboot:t") return std::nullopt;
    return LoginTargetInfo{target, initiator == "iqn.2026-01.test:i", std::nullopt, std::nullopt};
  }
  std::shared_ptr<Session> createSession(const LoginNegotiator& login, uint64_t, std::string*) override {
    auto session = std::make_shared<Session>();
    session->tsih = 0x42;
    session->nexusId = 7;
    session->discovery = login.discovery();
    session->initiatorName = login.initiatorName();
    session->targetName = login.targetName();
    if (!login.discovery()) {
      auto entry = std::make_shared<TargetEntry>();
      entry->backing.lun = lun;
      session->target = entry;
    }
    return session;
  }
  std::vector<std::string> visibleTargets(const std::string& initiator) override {
    std::vector<std::string> out;
    if (initiator == "iqn.2026-01.test:i") out.push_back("iqn.2026-01.lanboot:t");
    out.insert(out.end(), extraTargets.begin(), extraTargets.end());
    return out;
  }
  void dropTargetSessions(const std::string& target, uint64_t, const std::string&) override { dropped.push_back(target); }
  void emit(const EngineEvent& event) override { events.push_back(event); }
};

// --- Initiator PDU builders (RFC 7143 section 11 layouts) ---------------------------------

struct Script {
  std::vector<uint8_t> bytes;
  void add(Bhs bhs, const std::vector<uint8_t>& data = {}, const std::vector<uint8_t>& ahs = {}) {
    bhs[4] = uint8_t(ahs.size() / 4);
    storeBe24(bhs.data() + 5, uint32_t(data.size()));
    bytes.insert(bytes.end(), bhs.begin(), bhs.end());
    bytes.insert(bytes.end(), ahs.begin(), ahs.end());
    bytes.insert(bytes.end(), data.begin(), data.end());
    bytes.insert(bytes.end(), paddingFor(uint32_t(data.size())), 0);
  }
};

std::vector<uint8_t> kv(std::initializer_list<const char*> items) {
  std::vector<uint8_t> out;
  for (const char* item : items) {
    out.insert(out.end(), item, item + std::strlen(item));
    out.push_back(0);
  }
  return out;
}

Bhs loginBhs(uint8_t csg, uint8_t nsg, bool transit, uint32_t cmdSn) {
  Bhs b{};
  b[0] = 0x43;
  b[1] = uint8_t((transit ? 0x80 : 0) | (csg << 2) | nsg);
  b[8] = 0x80;
  b[13] = 0x01;  // ISID
  storeBe32(b.data() + 16, 0x1000);
  storeBe16(b.data() + 20, 1);
  storeBe32(b.data() + 24, cmdSn);
  return b;
}

Bhs commandBhs(uint32_t itt, uint32_t cmdSn, uint32_t edtl, bool read, bool write, bool final,
               std::initializer_list<uint8_t> cdb, uint8_t lun = 0) {
  Bhs b{};
  b[0] = 0x01;
  b[1] = uint8_t((final ? 0x80 : 0) | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 0x01);
  b[9] = lun;
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, edtl);
  storeBe32(b.data() + 24, cmdSn);
  size_t i = 32;
  for (uint8_t byte : cdb) b[i++] = byte;
  return b;
}


Bhs dataOutBhs(uint32_t itt, uint32_t ttt, uint32_t dataSn, uint32_t offset, bool final) {
  Bhs b{};
  b[0] = 0x05;
  b[1] = final ? 0x80 : 0;
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, ttt);
  storeBe32(b.data() + 36, dataSn);
  storeBe32(b.data() + 40, offset);
  return b;
}

Bhs nopOutBhs(uint32_t itt, uint32_t cmdSn, bool immediate) {
  Bhs b{};
  b[0] = immediate ? 0x40 : 0x00;
  b[1] = 0x80;
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, kReservedTag);
  storeBe32(b.data() + 24, cmdSn);
  return b;
}

Bhs tmfBhs(uint8_t function, uint32_t itt, uint32_t rtt, uint32_t cmdSn, uint32_t refCmdSn, uint8_t lun = 0) {
  Bhs b{};
  b[0] = 0x42;
  b[1] = uint8_t(0x80 | function);
  b[9] = lun;
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, rtt);
  storeBe32(b.data() + 24, cmdSn);
  storeBe32(b.data() + 32, refCmdSn);
  return b;
}

Bhs textBhs(uint32_t itt, uint32_t ttt, uint32_t cmdSn) {
  Bhs b{};
  b[0] = 0x04;
  b[1] = 0x80;
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 20, ttt);
  storeBe32(b.data() + 24, cmdSn);
  return b;
}

Bhs logoutBhs(uint32_t itt, uint32_t cmdSn, uint8_t reason) {
  Bhs b{};
  b[0] = 0x06;
  b[1] = uint8_t(0x80 | reason);
  storeBe32(b.data() + 16, itt);
  storeBe32(b.data() + 24, cmdSn);
  return b;
}

// A Normal-session login in one PDU (operational stage straight to full feature phase).
void normalLogin(Script& s, const char* extra1 = "InitialR2T=No", const char* extra2 = "ImmediateData=Yes") {
  s.add(loginBhs(1, 3, true, 1),
        kv({"InitiatorName=iqn.2026-01.test:i", "TargetName=iqn.2026-01.lanboot:t", "SessionType=Normal", extra1,
            extra2, "MaxRecvDataSegmentLength=4096", "MaxBurstLength=16384", "FirstBurstLength=8192"}));
}

struct Run {
  FakeHost host;
  MemoryTransport transport;
  std::string reason;
  void go(const Script& script) {
    transport.input = script.bytes;
    ConnectionInfo info;
    info.portalAddress = "192.0.2.10:3260";
    info.maxWriteBuffer = 1 << 20;
    Connection connection(host, transport, info);
    reason = connection.run();
  }
  const std::vector<Captured>& out() const { return transport.output; }
};

}  // namespace

static void testLoginAndReads() {
  Script s;
  normalLogin(s);
  s.add(nopOutBhs(0x10, 1, false), {'p', 'i', 'n', 'g'});
  s.add(commandBhs(0x20, 2, 8192, true, false, true, {0x28, 0, 0, 0, 0, 1, 0, 0, 16, 0}));   // READ10 LBA1 16 blocks
  s.add(commandBhs(0x21, 3, 32768, true, false, true, {0x28, 0, 0, 0, 0, 0, 0, 0, 64, 0}));  // 64 blocks
  s.add(commandBhs(0x22, 4, 255, true, false, true, {0x12, 0, 0, 0, 255, 0}));               // INQUIRY
  s.add(commandBhs(0x23, 5, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));                  // TUR
  Run run;
  run.go(s);
  const auto& out = run.out();
  CHECK(out.size() == 1 + 1 + 2 + 8 + 1 + 1);
  if (out.size() != 14) return;
  // Login Response: T=1 CSG=1 NSG=3, TSIH 0x42, success.
  CHECK(out[0].opcode() == 0x23 && out[0].bhs[1] == 0x87 && loadBe16(out[0].bhs.data() + 14) == 0x42);
  CHECK(out[0].bhs[36] == 0 && out[0].bhs[37] == 0);
  const uint32_t firstStatSn = out[0].statSn();
  // NOP-In echoes the ping data; StatSN advanced by one; ExpCmdSN 2 after CmdSN 1.
  CHECK(out[1].opcode() == 0x20 && out[1].itt() == 0x10 && out[1].data == std::vector<uint8_t>({'p', 'i', 'n', 'g'}));
  CHECK(out[1].statSn() == firstStatSn + 1 && loadBe32(out[1].bhs.data() + 28) == 2);
  // READ of 8192 bytes with MaxRecvDataSegmentLength 4096: two Data-In, status in the last.
  CHECK(out[2].opcode() == 0x25 && out[2].bhs[1] == 0x00 && loadBe32(out[2].bhs.data() + 36) == 0);
  CHECK(out[3].opcode() == 0x25 && out[3].bhs[1] == 0x81 && loadBe32(out[3].bhs.data() + 36) == 1);
  CHECK(loadBe32(out[3].bhs.data() + 40) == 4096 && out[3].statSn() == firstStatSn + 2);
  std::vector<uint8_t> expected(run.host.lun->disk_.begin() + 512, run.host.lun->disk_.begin() + 512 + 8192);
  std::vector<uint8_t> got = out[2].data;
  got.insert(got.end(), out[3].data.begin(), out[3].data.end());
  CHECK(got == expected);
  // 32 KiB with MaxBurstLength 16 KiB: F at the end of each 16 KiB sequence (11.7.1).
  for (int i = 0; i < 8; ++i) {
    const Captured& c = out[4 + i];
    const bool final = (c.bhs[1] & 0x80) != 0;
    CHECK(c.opcode() == 0x25 && loadBe32(c.bhs.data() + 36) == uint32_t(i));
    CHECK(final == (i == 3 || i == 7));
    CHECK(((c.bhs[1] & 0x01) != 0) == (i == 7));
  }
  // INQUIRY: 36 bytes for an EDTL of 255: underflow residual 219 (11.4.5.2).
  CHECK(out[12].opcode() == 0x25 && out[12].bhs[1] == 0x83 && loadBe32(out[12].bhs.data() + 44) == 219);
  CHECK(out[12].data.size() == 36);
  // TUR: SCSI Response, GOOD, no data.
  CHECK(out[13].opcode() == 0x21 && out[13].bhs[3] == 0 && out[13].data.empty());
  CHECK(loadBe32(out[13].bhs.data() + 28) == 6);  // ExpCmdSN
  CHECK(run.reason == "connection closed");
  CHECK(run.host.events.empty());  // no login-failed events
}

static void testWrites() {
  Script s;
  normalLogin(s);
  // 1) 8 KiB write: 4 KiB immediate + 4 KiB unsolicited Data-Out (F=0 on the command).
  std::vector<uint8_t> a(4096, 0xaa), b(4096, 0xbb);
  s.add(commandBhs(0x30, 1, 8192, false, true, false, {0x2a, 0, 0, 0, 0, 0, 0, 0, 16, 0}), a);
  s.add(dataOutBhs(0x30, kReservedTag, 0, 4096, true), b);
  // 2) 24 KiB write: 8 KiB immediate (= FirstBurstLength), then one R2T of 16 KiB (TTT 1).
  std::vector<uint8_t> c(8192, 0xcc), d(4096, 0xdd);
  s.add(commandBhs(0x31, 2, 24576, false, true, true, {0x2a, 0, 0, 0, 0, 32, 0, 0, 48, 0}), c);
  for (uint32_t i = 0; i < 4; ++i) s.add(dataOutBhs(0x31, 1, i, 8192 + 4096 * i, i == 3), d);
  Run run;
  run.go(s);
  const auto& out = run.out();
  CHECK(out.size() == 4);
  if (out.size() != 4) return;
  CHECK(out[1].opcode() == 0x21 && out[1].itt() == 0x30 && out[1].bhs[3] == 0);
  CHECK(out[2].opcode() == 0x31 && out[2].itt() == 0x31);
  CHECK(loadBe32(out[2].bhs.data() + 20) == 1 && loadBe32(out[2].bhs.data() + 36) == 0);  // TTT, R2TSN
  CHECK(loadBe32(out[2].bhs.data() + 40) == 8192 && loadBe32(out[2].bhs.data() + 44) == 16384);
  CHECK(out[3].opcode() == 0x21 && out[3].itt() == 0x31 && out[3].bhs[3] == 0);
  const auto& disk = run.host.lun->disk_;
  CHECK(disk[0] == 0xaa && disk[4095] == 0xaa && disk[4096] == 0xbb && disk[8191] == 0xbb);
  CHECK(disk[32 * 512] == 0xcc && disk[32 * 512 + 8191] == 0xcc && disk[32 * 512 + 8192] == 0xdd);
  CHECK(disk[32 * 512 + 24575] == 0xdd);
  CHECK(run.host.lun->writes == 2);
}

static void testInitialR2tWrite() {
  // iPXE/Windows style: InitialR2T=Yes, ImmediateData=No: every byte is solicited.
  Script s;
  normalLogin(s, "InitialR2T=Yes", "ImmediateData=No");
  std::vector<uint8_t> e(4096, 0xee);
  s.add(commandBhs(0x40, 1, 20480, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0, 0, 40, 0}));
  for (uint32_t i = 0; i < 4; ++i) s.add(dataOutBhs(0x40, 1, i, 4096 * i, i == 3), e);  // R2T 1: 16 KiB
  s.add(dataOutBhs(0x40, 2, 0, 16384, true), e);                                       // R2T 2: 4 KiB
  Run run;
  run.go(s);
  const auto& out = run.out();
  CHECK(out.size() == 4);
  if (out.size() != 4) return;
  CHECK(out[1].opcode() == 0x31 && loadBe32(out[1].bhs.data() + 40) == 0 && loadBe32(out[1].bhs.data() + 44) == 16384);
  CHECK(out[2].opcode() == 0x31 && loadBe32(out[2].bhs.data() + 36) == 1 && loadBe32(out[2].bhs.data() + 40) == 16384);
  CHECK(loadBe32(out[2].bhs.data() + 44) == 4096);
  CHECK(out[3].opcode() == 0x21 && out[3].bhs[3] == 0);
  CHECK(run.host.lun->disk_[20479] == 0xee);
}

static void testWriteErrors() {
  Script s;
  normalLogin(s, "InitialR2T=Yes", "ImmediateData=No");
  std::vector<uint8_t> f(4096, 0xff);
  // Wrong DataSN: the Data-Out is rejected and the command fails (ERL 0).
  s.add(commandBhs(0x50, 1, 4096, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}));
  s.add(dataOutBhs(0x50, 1, 5, 0, true), f);
  // Data for no task at all.
  s.add(dataOutBhs(0x51, 9, 0, 0, true), f);
  // More data than the EDTL / the R2T asked for.
  s.add(commandBhs(0x52, 2, 4096, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}));
  s.add(dataOutBhs(0x52, 2, 0, 4096, true), f);
  // Immediate data although ImmediateData=No.
  s.add(commandBhs(0x53, 3, 4096, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}), f);
  // Write larger than the buffer cap (1 MiB in this test).
  s.add(commandBhs(0x54, 4, 4u << 20, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0x20, 0, 0, 0}));
  Run run;
  run.go(s);
  const auto& out = run.out();
  // login, R2T, Reject, CheckCondition, Reject(no task), R2T, Reject, CheckCondition, Reject, CheckCondition
  CHECK(out.size() == 10);
  if (out.size() != 10) return;
  CHECK(out[1].opcode() == 0x31);
  CHECK(out[2].opcode() == 0x3f && out[2].bhs[2] == kRejectProtocolError && out[2].data.size() == 48);
  CHECK(out[2].data[0] == 0x05);  // the rejected Data-Out's BHS
  CHECK(out[3].opcode() == 0x21 && out[3].itt() == 0x50 && out[3].bhs[3] == 0x02);
  CHECK(out[3].data.size() == 20 && out[3].data[2 + 2] == 0x0b);  // ABORTED COMMAND
  CHECK(out[4].opcode() == 0x3f && out[4].bhs[2] == kRejectInvalidPduField);
  CHECK(out[5].opcode() == 0x31 && out[5].itt() == 0x52);
  CHECK(out[6].opcode() == 0x3f && out[7].opcode() == 0x21 && out[7].itt() == 0x52 && out[7].bhs[3] == 0x02);
  CHECK(out[8].opcode() == 0x3f && out[8].data[16 + 3] == 0x53);
  CHECK(out[9].opcode() == 0x21 && out[9].itt() == 0x54 && out[9].bhs[3] == 0x02 && out[9].data[2 + 12] == 0x55);
  CHECK(run.host.lun->writes == 0);
}

static void testCommandWindowAndProtocolErrors() {
  Script s;
  normalLogin(s);
  s.add(commandBhs(0x60, 1000, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));  // far above MaxCmdSN: dropped
  s.add(commandBhs(0x61, 0, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));     // below ExpCmdSN: dropped
  s.add(commandBhs(0x62, 1, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));     // in order
  s.add(commandBhs(0x63, 1, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));     // duplicate: dropped
  Bhs immediate = commandBhs(0x64, 2, 0, false, false, true, {0x00, 0, 0, 0, 0, 0});
  immediate[0] |= 0x40;  // immediate: answered, CmdSN not consumed
  s.add(immediate);
  s.add(commandBhs(0x65, 2, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));
  Bhs unknown{};
  unknown[0] = 0x1c;
  unknown[1] = 0x80;
  s.add(unknown, {1, 2, 3, 4, 5});  // unknown opcode, with data to skip
  // Garbage AHS on a SCSI command: AHS type 9.
  s.add(commandBhs(0x66, 3, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}), {}, {0x00, 0x01, 0x09, 0x00});
  // INQUIRY and TUR to LUN 1, which does not exist.
  s.add(commandBhs(0x67, 3, 96, true, false, true, {0x12, 0, 0, 0, 96, 0}, 1));
  s.add(commandBhs(0x68, 4, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}, 1));
  // Data segment longer than our MaxRecvDataSegmentLength (262144): reject and close.
  Bhs huge = nopOutBhs(0x69, 5, false);
  s.bytes.insert(s.bytes.end(), huge.begin(), huge.end());
  s.bytes[s.bytes.size() - 48 + 5] = 0x10;  // 1 MiB
  Run run;
  run.go(s);
  const auto& out = run.out();
  CHECK(out.size() == 9);
  if (out.size() != 9) return;
  CHECK(out[1].itt() == 0x62 && loadBe32(out[1].bhs.data() + 28) == 2);
  CHECK(out[2].itt() == 0x64 && loadBe32(out[2].bhs.data() + 28) == 2);
  CHECK(out[3].itt() == 0x65 && loadBe32(out[3].bhs.data() + 28) == 3);
  CHECK(loadBe32(out[3].bhs.data() + 32) == 3 + 64 - 1);  // MaxCmdSN = ExpCmdSN + window - 1
  CHECK(out[4].opcode() == 0x3f && out[4].bhs[2] == kRejectCommandNotSupported && out[4].data[0] == 0x1c);
  CHECK(out[5].opcode() == 0x3f && out[5].bhs[2] == kRejectInvalidPduField);
  CHECK(out[6].opcode() == 0x25 && out[6].data[0] == 0x7f);  // peripheral qualifier 3
  CHECK(out[7].opcode() == 0x21 && out[7].bhs[3] == 0x02 && out[7].data[2 + 12] == 0x25);
  CHECK(out[8].opcode() == 0x3f && out[8].bhs[2] == kRejectProtocolError);
  CHECK(run.reason == "data segment longer than negotiated");
}

static void testTaskManagement() {
  Script s;
  normalLogin(s, "InitialR2T=Yes", "ImmediateData=No");
  s.add(commandBhs(0x70, 1, 4096, false, true, true, {0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}));  // waits for data
  s.add(tmfBhs(kAbortTask, 0x71, 0x70, 2, 1));                                           // abort it
  s.add(dataOutBhs(0x70, 1, 0, 0, true), std::vector<uint8_t>(4096, 1));                  // late data: no task
  s.add(tmfBhs(kAbortTask, 0x72, 0x99, 2, 1));                                           // unknown task
  s.add(tmfBhs(kLogicalUnitReset, 0x73, 0, 2, 0));
  s.add(tmfBhs(kLogicalUnitReset, 0x74, 0, 2, 0, 3));                                    // LUN 3 missing
  s.add(tmfBhs(kClearAca, 0x75, 0, 2, 0));
  s.add(tmfBhs(kTaskReassign, 0x76, 0, 2, 0));
  s.add(tmfBhs(kTargetColdReset, 0x77, 0, 2, 0));
  s.add(commandBhs(0x78, 2, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));  // never read
  Run run;
  run.go(s);
  const auto& out = run.out();
  CHECK(out.size() == 10);
  if (out.size() != 10) return;
  CHECK(out[1].opcode() == 0x31);
  CHECK(out[2].opcode() == 0x22 && out[2].itt() == 0x71 && out[2].bhs[2] == kFunctionComplete);
  CHECK(out[3].opcode() == 0x3f);
  CHECK(out[4].opcode() == 0x22 && out[4].bhs[2] == kTaskDoesNotExist);
  CHECK(out[5].bhs[2] == kFunctionComplete && run.host.lun->resets == 2);  // LU reset + cold reset
  CHECK(out[6].bhs[2] == kLunDoesNotExist);
  CHECK(out[7].bhs[2] == kFunctionNotSupported);
  CHECK(out[8].bhs[2] == kTaskReassignNotSupported);
  CHECK(out[9].opcode() == 0x22 && out[9].itt() == 0x77 && out[9].bhs[2] == kFunctionComplete);
  CHECK(run.reason == "target cold reset");
  CHECK(run.host.dropped.size() == 1 && run.host.dropped[0] == "iqn.2026-01.lanboot:t");
  CHECK(run.host.lun->writes == 0);
}

static void testDiscoveryAndLogout() {
  Script s;
  s.add(loginBhs(0, 1, true, 1), kv({"InitiatorName=iqn.2026-01.test:i", "SessionType=Discovery", "AuthMethod=None"}));
  s.add(loginBhs(1, 3, true, 1), kv({"MaxRecvDataSegmentLength=512"}));
  s.add(textBhs(0x80, kReservedTag, 1), kv({"SendTargets=All"}));
  // 40 targets of ~60 bytes each need several 512-byte Text Responses (C bit, 11.11.2).
  for (uint32_t ttt = 1; ttt <= 20; ++ttt) s.add(textBhs(0x80, ttt, 2 + ttt - 1));
  s.add(commandBhs(0x81, 30, 0, false, false, true, {0x00, 0, 0, 0, 0, 0}));  // no SCSI in discovery
  s.add(logoutBhs(0x82, 30, 0));
  s.add(nopOutBhs(0x83, 31, false));  // after logout: never read
  Run run;
  for (int i = 0; i < 39; ++i) {
    run.host.extraTargets.push_back("iqn.2026-01.lanboot:extra-target-number-" + std::to_string(100 + i));
  }
  run.go(s);
  const auto& out = run.out();
  std::string all;
  size_t textResponses = 0;
  size_t index = 2;
  for (; index < out.size() && out[index].opcode() == 0x24; ++index) {
    ++textResponses;
    CHECK(out[index].data.size() <= 512);
    all.append(out[index].data.begin(), out[index].data.end());
    const bool last = (out[index].bhs[1] & 0x80) != 0;
    CHECK(last == ((out[index].bhs[1] & 0x40) == 0));
    CHECK((loadBe32(out[index].bhs.data() + 20) == kReservedTag) == last);
    if (last) break;
  }
  CHECK(textResponses > 1);
  CHECK(all.find(std::string("TargetName=iqn.2026-01.lanboot:t\0TargetAddress=192.0.2.10:3260,1\0", 65)) == 0);
  CHECK(all.find("extra-target-number-138") != std::string::npos);
  size_t targetCount = 0;
  for (size_t p = all.find("TargetName="); p != std::string::npos; p = all.find("TargetName=", p + 1)) ++targetCount;
  CHECK(targetCount == 40);
  CHECK(out.size() >= 3);
  const Captured& reject = out[out.size() - 2];
  CHECK(reject.opcode() == 0x3f && reject.bhs[2] == kRejectProtocolError);
  CHECK(out.back().opcode() == 0x26 && out.back().itt() == 0x82 && out.back().bhs[2] == 0);
  CHECK(run.reason == "logout");
}

static void testLoginRejections() {
  {  // a SCSI command before login ends the connection
    Script s;
    s.add(commandBhs(1, 1, 0, false, false, true, {0, 0, 0, 0, 0, 0}));
    Run run;
    run.go(s);
    CHECK(run.out().empty());
    CHECK(run.host.events.size() == 1 && run.host.events[0].type == EngineEvent::Type::kLoginFailed);
  }
  {  // login text larger than the 8 KiB login limit
    Script s;
    s.add(loginBhs(0, 1, true, 1), std::vector<uint8_t>(9000, 'a'));
    Run run;
    run.go(s);
    CHECK(run.out().size() == 1 && run.out()[0].opcode() == 0x3f);
  }
  {  // ACL: a foreign initiator gets 0202 and the connection ends
    Script s;
    s.add(loginBhs(0, 1, true, 1), kv({"InitiatorName=iqn.2026-01.test:x", "TargetName=iqn.2026-01.lanboot:t"}));
    s.add(nopOutBhs(1, 1, true));
    Run run;
    run.go(s);
    CHECK(run.out().size() == 1 && run.out()[0].bhs[36] == 2 && run.out()[0].bhs[37] == 2);
    CHECK(run.host.events.size() == 1 && run.host.events[0].reason.find("not allowed") != std::string::npos);
  }
}

int main() {
  testLoginAndReads();
  testWrites();
  testInitialR2tWrite();
  testWriteErrors();
  testCommandWindowAndProtocolErrors();
  testTaskManagement();
  testDiscoveryAndLogout();
  testLoginRejections();
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
