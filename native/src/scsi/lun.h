// The contract between the iSCSI transport (native/src/iscsi) and the SCSI device
// (native/src/scsi). The transport owns sockets, PDUs and sequencing; the device owns
// CDB decoding, sense data and the backing store. Nothing here does I/O on sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lanboot::scsi {

// SAM-5 status codes.
enum class Status : uint8_t {
  kGood = 0x00,
  kCheckCondition = 0x02,
  kBusy = 0x08,
  kReservationConflict = 0x18,
  kTaskSetFull = 0x28,
  kTaskAborted = 0x40,
};

// A run of Data-In bytes that lives in a file: the transport sends it with sendfile(2)
// so READ data goes from the page cache to the socket without a user-space copy.
// fd < 0 means "length zero bytes" (a hole with nothing behind it).
struct FileExtent {
  int fd;
  uint64_t offset;
  uint32_t length;
};

// What the transport knows about one SCSI command (SAM-5 Execute Command arguments).
struct CommandRequest {
  const uint8_t* cdb = nullptr;
  size_t cdbLength = 0;              // 6..16 (longer only with an extended-CDB AHS)
  uint64_t lun = 0;                  // already decoded from the 8-byte LUN field
  uint64_t nexusId = 0;              // identifies the I_T nexus (session), for unit attentions
  uint32_t expectedDataLength = 0;   // iSCSI EDTL
  bool readFlag = false;             // iSCSI R bit
  bool writeFlag = false;            // iSCSI W bit
  const uint8_t* dataOut = nullptr;  // Data-Out bytes received (write commands)
  size_t dataOutLength = 0;
};

// The device's answer. Data-In is either `data` (small, from memory: INQUIRY, MODE SENSE...)
// or `extents` (READ: zero-copy from files), never both. The transport clips Data-In to the
// EDTL and reports residual over/underflow itself (RFC 7143 11.4.5).
struct CommandResult {
  Status status = Status::kGood;
  std::vector<uint8_t> sense;          // fixed-format sense data when kCheckCondition
  std::vector<uint8_t> data;           // Data-In from memory
  std::vector<FileExtent> extents;     // Data-In from files, in order
  uint64_t dataInLength() const {
    if (!extents.empty()) {
      uint64_t n = 0;
      for (const auto& e : extents) n += e.length;
      return n;
    }
    return data.size();
  }
};

// One logical unit. Thread-safe: several connections may call execute() at once.
class Lun {
 public:
  virtual ~Lun() = default;

  // How many Data-Out bytes this CDB transfers according to the CDB itself (0 when it
  // transfers none or the CDB is not understood). The transport uses it to size the
  // receive buffer (never above the EDTL it will accept).
  virtual uint64_t dataOutLengthFromCdb(const uint8_t* cdb, size_t cdbLength) const = 0;

  virtual CommandResult execute(const CommandRequest& request) = 0;

  // LOGICAL UNIT RESET task management function (SAM-5 7.7): drop per-nexus state and
  // raise a unit attention for the other nexuses.
  virtual void logicalUnitReset(uint64_t fromNexusId) = 0;

  // A new I_T nexus (session) appeared / went away.
  virtual void nexusAdded(uint64_t nexusId) = 0;
  virtual void nexusRemoved(uint64_t nexusId) = 0;

  // Make all acknowledged writes durable (used at logout and shutdown).
  virtual int flush() = 0;

  // The transport could not send file extents this LUN returned for a READ (`error`: errno).
  // A LUN that can read through memory does so from then on, so a failing block is answered
  // with sense data rather than a dropped connection.
  virtual void noteReadFault(int error) {}
};

// Identity of a disk as reported by INQUIRY / VPD pages.
struct DiskIdentity {
  std::string vendor = "LANBOOT";      // T10 vendor id, 8 chars max
  std::string product = "seat disk";   // 16 chars max
  std::string revision = "0001";       // 4 chars max
  std::string serial;                  // VPD 0x80
  uint64_t naa = 0;                    // VPD 0x83 NAA IEEE Registered designator (NAA 5), 64 bits
  std::string targetName;              // VPD 0x83 SCSI name string designator (target IQN)
};

class CowStore;

// Creates a disk LUN that serves `store` with 512-byte logical blocks.
std::shared_ptr<Lun> makeDiskLun(std::shared_ptr<CowStore> store, DiskIdentity identity);

}  // namespace lanboot::scsi
