// libFuzzer harness: any bytes as a CDB plus Data-Out against a disk LUN over a small real
// CowStore in a temp dir. Must never crash, leak or trip ASan/UBSan; every answer must be a
// well-formed status (sense present exactly on CHECK CONDITION) and Data-In within bounds.
//
// Input layout: [0] CDB length selector, [1] flags (nexus, LU reset, halved EDTL, missing
// LUN), then the CDB bytes, then everything else is the Data-Out buffer. The command goes in
// through the task router, as the transport sends it.
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cow/store.h"
#include "scsi/cdb.h"
#include "scsi/lun.h"
#include "scsi/task_router.h"

using namespace lanboot::scsi;

namespace {

std::string tempDir;
std::shared_ptr<CowStore> store;
std::shared_ptr<Lun> lun;

void removeTempDir() {
  lun.reset();
  store.reset();
  if (!tempDir.empty())
    ::nftw(tempDir.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
           FTW_DEPTH | FTW_PHYS);
}

void setUp() {
  // tmpfs when there is one: the fuzzer syncs and punches holes thousands of times a second.
  struct stat st;
  std::string base = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  std::string pattern = base + "/lanboot-cdb-fuzz-XXXXXX";
  char* made = ::mkdtemp(&pattern[0]);
  if (!made) std::abort();
  tempDir = made;
  std::atexit(removeTempDir);
  std::string golden = tempDir + "/golden.img";
  FILE* f = std::fopen(golden.c_str(), "wb");
  std::vector<uint8_t> bytes(256 * 1024);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + (i >> 9));
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  CowStoreOptions options;
  options.goldenPath = golden;
  options.deltaDir = tempDir + "/delta";
  options.quotaBytes = 128 * 1024;  // exercises the -ENOSPC path too
  std::string error;
  store = CowStore::open(options, &error);
  if (!store) {
    std::fprintf(stderr, "store: %s\n", error.c_str());
    std::abort();
  }
  DiskIdentity identity;
  identity.serial = "FUZZ";
  identity.targetName = "iqn.2026-01.local.lanboot:fuzz";
  lun = makeDiskLun(store, identity);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!lun) setUp();
  if (size < 2) return 0;
  size_t cdbLength = 1 + data[0] % 16;  // 1..16 bytes
  uint8_t flags = data[1];
  data += 2;
  size -= 2;
  if (cdbLength > size) cdbLength = size;
  // Copy to exact-size heap buffers so ASan sees any read past the CDB or the Data-Out.
  std::unique_ptr<uint8_t[]> cdb(new uint8_t[cdbLength > 0 ? cdbLength : 1]);
  std::memcpy(cdb.get(), data, cdbLength);
  size_t dataOutLength = size - cdbLength;
  // The transport's buffer is the EDTL; 0x04: an EDTL of half what follows the CDB.
  if (flags & 0x04) dataOutLength /= 2;
  std::unique_ptr<uint8_t[]> dataOut(new uint8_t[dataOutLength > 0 ? dataOutLength : 1]);
  std::memcpy(dataOut.get(), data + cdbLength, dataOutLength);

  DecodedCdb decoded = decodeCdb(cdbLength > 0 ? cdb.get() : nullptr, cdbLength);
  (void)dataOutBytes(decoded, 512);
  (void)lun->dataOutLengthFromCdb(cdb.get(), cdbLength);

  uint64_t nexus = flags & 0x03;
  if (flags & 0x80) lun->logicalUnitReset(nexus ^ 1);
  if (flags & 0x40) lun->nexusAdded(nexus);
  CommandRequest request;
  request.cdb = cdbLength > 0 ? cdb.get() : nullptr;
  request.cdbLength = cdbLength;
  request.nexusId = nexus;
  request.dataOut = dataOutLength > 0 ? dataOut.get() : nullptr;
  request.dataOutLength = dataOutLength;
  request.expectedDataLength = static_cast<uint32_t>(dataOutLength);
  request.writeFlag = dataOutLength > 0;
  request.readFlag = dataOutLength == 0;
  request.lun = (flags & 0x08) ? 1 + (flags >> 5) : 0;  // a LUN that does not exist
  TaskOutcome outcome = routeCommand(lun.get(), request);
  if (outcome.bytesWritten > dataOutLength) std::abort();
  const CommandResult& result = outcome.result;
  if ((result.status == Status::kCheckCondition) != !result.sense.empty()) std::abort();
  if (!result.data.empty() && !result.extents.empty()) std::abort();
  if (result.data.size() > 65536 + 64) std::abort();  // in-memory Data-In stays small
  for (const FileExtent& e : result.extents) {
    if (e.fd >= 0 && e.offset + e.length > store->sizeBytes()) std::abort();
  }
  if (result.dataInLength() > uint64_t{8192} * 512) std::abort();  // max transfer length
  if (flags & 0x20) lun->nexusRemoved(nexus);
  if ((flags & 0x1F) == 0x1F) store->reset();
  return 0;
}
