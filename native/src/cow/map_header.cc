#include "cow/map_header.h"

#include <cstring>

namespace lanboot::cow {
namespace {

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

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

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
  put32(out + kOffVersion, header.version);
  put32(out + kOffChunkSize, header.chunkSize);
  put64(out + kOffDiskSize, header.diskSizeBytes);
  size_t idLength = header.goldenIdentity.size();
  if (idLength > kGoldenIdentityMax) idLength = kGoldenIdentityMax;
  put32(out + kOffIdentityLength, static_cast<uint32_t>(idLength));
  std::memcpy(out + kOffIdentity, header.goldenIdentity.data(), idLength);
  put32(out + kOffCrc, crc32(out, kOffCrc));
}

bool decodeMapHeader(const uint8_t* in, size_t length, MapHeader* header, std::string* error) {
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return false;
  };
  if (in == nullptr || length < kMapHeaderEncodedSize) return fail("map header truncated");
  if (std::memcmp(in + kOffMagic, kMagic, sizeof(kMagic)) != 0) return fail("map header: bad magic");
  if (get32(in + kOffCrc) != crc32(in, kOffCrc)) return fail("map header: CRC mismatch");
  uint32_t version = get32(in + kOffVersion);
  if (version != kMapVersion) return fail("map header: unsupported version");
  uint32_t chunkSize = get32(in + kOffChunkSize);
  if (chunkSize != kChunkSize) return fail("map header: unsupported chunk size");
  uint64_t diskSize = get64(in + kOffDiskSize);
  if (diskSize == 0 || diskSize % 512 != 0) return fail("map header: bad disk size");
  uint32_t idLength = get32(in + kOffIdentityLength);
  if (idLength > kGoldenIdentityMax) return fail("map header: golden identity too long");
  header->version = version;
  header->chunkSize = chunkSize;
  header->diskSizeBytes = diskSize;
  header->goldenIdentity.assign(reinterpret_cast<const char*>(in + kOffIdentity), idLength);
  return true;
}

}  // namespace lanboot::cow
