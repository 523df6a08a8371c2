#include "cow/map_header.h"

#include <cstring>

#include "common/byte_order.h"

namespace lanboot::cow {
namespace {

using common::loadLe32;
using common::loadLe64;
using common::storeLe32;
using common::storeLe64;

constexpr char kMagic[8] = {'L', 'B', 'C', 'O', 'W', 'M', 'A', 'P'};
// Offsets inside the header.
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffChunkSize = 12;
constexpr size_t kOffDiskSize = 16;
constexpr size_t kOffIdentityLength = 24;
constexpr size_t kOffIdentity = 28;             // 64 bytes, zero padded
constexpr size_t kOffCrc = kMapHeaderEncodedSize - 4;  // CRC-32 of bytes [0, kOffCrc)
static_assert(kOffIdentity + kGoldenIdentityMax <= kOffCrc, "header layout overflows");

}  // namespace

uint32_t crc32(const uint8_t* data, size_t length) {
  // CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320); bitwise: the header is 124 bytes.
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void encodeMapHeader(const MapHeader& header, uint8_t* out) {
  std::memset(out, 0, kMapHeaderEncodedSize);
  std::memcpy(out + kOffMagic, kMagic, sizeof(kMagic));
  storeLe32(out + kOffVersion, header.version);
  storeLe32(out + kOffChunkSize, header.chunkSize);
  storeLe64(out + kOffDiskSize, header.diskSizeBytes);
  size_t idLength = header.goldenIdentity.size();
  if (idLength > kGoldenIdentityMax) idLength = kGoldenIdentityMax;
  storeLe32(out + kOffIdentityLength, static_cast<uint32_t>(idLength));
  std::memcpy(out + kOffIdentity, header.goldenIdentity.data(), idLength);
  storeLe32(out + kOffCrc, crc32(out, kOffCrc));
}

bool decodeMapHeader(const uint8_t* in, size_t length, MapHeader* header, std::string* error) {
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return false;
  };
  if (in == nullptr || length < kMapHeaderEncodedSize) return fail("map header truncated");
  if (std::memcmp(in + kOffMagic, kMagic, sizeof(kMagic)) != 0) return fail("map header: bad magic");
  if (loadLe32(in + kOffCrc) != crc32(in, kOffCrc)) return fail("map header: CRC mismatch");
  uint32_t version = loadLe32(in + kOffVersion);
  if (version != kMapVersion) return fail("map header: unsupported version");
  uint32_t chunkSize = loadLe32(in + kOffChunkSize);
  if (chunkSize != kChunkSize) return fail("map header: unsupported chunk size");
  uint64_t diskSize = loadLe64(in + kOffDiskSize);
  if (diskSize == 0 || diskSize % 512 != 0) return fail("map header: bad disk size");
  uint32_t idLength = loadLe32(in + kOffIdentityLength);
  if (idLength > kGoldenIdentityMax) return fail("map header: golden identity too long");
  header->version = version;
  header->chunkSize = chunkSize;
  header->diskSizeBytes = diskSize;
  header->goldenIdentity.assign(reinterpret_cast<const char*>(in + kOffIdentity), idLength);
  return true;
}

}  // namespace lanboot::cow
