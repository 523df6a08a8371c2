// libFuzzer harness: BHS + AHS parsing (RFC 7143 11.2) and the whole connection state
// machine (login, full feature phase) fed arbitrary bytes through an in-memory transport.
// The LUN is a small RAM disk defined here (the fuzzer targets the transport, not SCSI).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/byte_order.h"
#include "iscsi/connection.h"

namespace {

using namespace lanboot;
using namespace lanboot::iscsi;

class RamLun : public scsi::Lun {
 public:
  RamLun() : disk_(64 * 512) {}
  uint64_t dataOutLengthFromCdb(const uint8_t* cdb, size_t length) const override {
    if (cdb[0] == 0x2a && length >= 10) return uint64_t(common::loadBe16(cdb + 7)) * 512;
    return 0;
  }
  scsi::CommandResult execute(const scsi::CommandRequest& request) override {
    scsi::CommandResult result;
    const uint8_t* c = request.cdb;
    if (c[0] == 0x28 && request.cdbLength >= 10) {
      uint64_t lba = common::loadBe32(c + 2), blocks = common::loadBe16(c + 7);
      if ((lba + blocks) * 512 <= disk_.size()) {
        result.data.assign(disk_.begin() + long(lba * 512), disk_.begin() + long((lba + blocks) * 512));
        return result;
      }
    } else if (c[0] == 0x2a && request.cdbLength >= 10) {
      uint64_t lba = common::loadBe32(c + 2), blocks = common::loadBe16(c + 7);
      if ((lba + blocks) * 512 <= disk_.size()) {
        std::memcpy(disk_.data() + lba * 512, request.dataOut, std::min<size_t>(request.dataOutLength, blocks * 512));
        return result;
      }
    } else if (c[0] == 0x00) {
      return result;
    } else if (c[0] == 0x12) {
      result.extents.push_back(scsi::FileExtent{-1, 0, 36});  // zeros: exercises the extent path
      return result;
    }
    result.status = scsi::Status::kCheckCondition;
    result.sense = {0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0};
    return result;
  }
  void logicalUnitReset(uint64_t) override {}
  void nexusAdded(uint64_t) override {}
  void nexusRemoved(uint64_t) override {}
  int flush() override { return 0; }

 private:
  std::vector<uint8_t> disk_;
};

class MemoryTransport : public PduTransport {
 public:
  MemoryTransport(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool readExact(uint8_t* buffer, size_t length) override {
    if (size_ - position_ < length) return false;
    std::memcpy(buffer, data_ + position_, length);
    position_ += length;
    return true;
  }
  bool sendPdu(const Bhs& bhs, const uint8_t* data, size_t length) override {
    if (common::loadBe24(bhs.data() + 5) != length) __builtin_trap();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < length; ++i) sink = sink ^ data[i];  // every byte must be readable
    return ++sent_ < 100000;
  }
  FileSend sendPduFromFiles(const Bhs& bhs, const std::vector<scsi::FileExtent>& pieces) override {
    uint64_t total = 0;
    for (const auto& piece : pieces) total += piece.length;
    if (common::loadBe24(bhs.data() + 5) != total) __builtin_trap();
    return ++sent_ < 100000 ? FileSend::kSent : FileSend::kConnectionFailed;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  size_t sent_ = 0;
};

class Host : public ConnectionHost {
 public:
  std::shared_ptr<RamLun> lun = std::make_shared<RamLun>();
  std::optional<LoginTargetInfo> findTarget(const std::string& target, const std::string& initiator) override {
    if (target != "iqn.t") return std::nullopt;
    return LoginTargetInfo{target, initiator == "iqn.i", std::nullopt, std::nullopt};
  }
  std::shared_ptr<Session> createSession(const LoginNegotiator& login, uint64_t, std::string*) override {
    auto session = std::make_shared<Session>();
    session->tsih = 1;
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
  std::vector<std::string> visibleTargets(const std::string&) override { return {"iqn.t"}; }
  void dropTargetSessions(const std::string&, uint64_t, const std::string&) override {}
  void emit(const EngineEvent&) override {}
};

// A complete login (operational stage -> full feature phase) so that most inputs reach
// the full feature phase; selected by the first input byte.
std::vector<uint8_t> cannedLogin(bool discovery) {
  const char* text = discovery ? "InitiatorName=iqn.i\0SessionType=Discovery\0MaxRecvDataSegmentLength=4096\0"
                               : "InitiatorName=iqn.i\0TargetName=iqn.t\0InitialR2T=No\0ImmediateData=Yes\0"
                                 "MaxRecvDataSegmentLength=4096\0MaxBurstLength=8192\0FirstBurstLength=4096\0";
  size_t length = 0;
  while (!(text[length] == 0 && text[length + 1] == 0)) ++length;
  length += 1;
  std::vector<uint8_t> pdu(48, 0);
  pdu[0] = 0x43;
  pdu[1] = 0x87;
  common::storeBe24(pdu.data() + 5, uint32_t(length));
  pdu[8] = 0x80;
  pdu.insert(pdu.end(), text, text + length);
  pdu.resize(48 + ((length + 3) & ~size_t(3)), 0);
  return pdu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= kBhsLength) {
    InitiatorHeader header;
    parseInitiatorHeader(data, &header);
    AdditionalHeaders ahs;
    size_t ahsLength = std::min<size_t>(size - kBhsLength, size_t(data[4]) * 4);
    parseAdditionalHeaders(data + kBhsLength, ahsLength, &ahs);
  }
  if (size == 0) return 0;
  std::vector<uint8_t> stream;
  const uint8_t mode = data[0] % 3;  // 0: raw bytes, 1: after a normal login, 2: after discovery login
  if (mode != 0) stream = cannedLogin(mode == 2);
  stream.insert(stream.end(), data + 1, data + size);
  Host host;
  MemoryTransport transport(stream.data(), stream.size());
  ConnectionInfo info;
  info.portalAddress = "127.0.0.1:3260";
  info.maxWriteBuffer = 64 * 1024;
  Connection connection(host, transport, info);
  connection.run();
  return 0;
}
