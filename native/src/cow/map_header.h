// On-disk header of a seat's delta map file (pure codec: bytes in, values out, no I/O).
//
// Layout of <deltaDir>/delta.map:
//   [0, 4096)            header (this codec), little-endian, CRC-32 over bytes [0, 124)
//   [4096, 4096+bitmap)  one bit per chunk: chunk i is bit (i % 8) of byte (i / 8);
//                        a set bit means "the seat owns this chunk: read it from delta.data".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lanboot::cow {

constexpr uint32_t kMapVersion = 1;
constexpr uint32_t kChunkSize = 4096;            // copy-on-write granularity (bytes)
constexpr uint64_t kMapHeaderSize = 4096;        // bitmap starts here (page aligned)
constexpr size_t kGoldenIdentityMax = 64;        // bytes of the golden identity string
constexpr size_t kMapHeaderEncodedSize = 128;    // bytes of the header actually used

struct MapHeader {
  uint32_t version = kMapVersion;
  uint32_t chunkSize = kChunkSize;
  uint64_t diskSizeBytes = 0;
  std::string goldenIdentity;  // <= kGoldenIdentityMax bytes, no NUL
};

// Writes kMapHeaderEncodedSize bytes into `out` (caller provides at least that many).
void encodeMapHeader(const MapHeader& header, uint8_t* out);

// Decodes and validates (magic, version, chunk size, CRC, identity length). Returns false
// with a human-readable reason on any mismatch; never reads past `length`.
bool decodeMapHeader(const uint8_t* in, size_t length, MapHeader* header, std::string* error);

uint32_t crc32(const uint8_t* data, size_t length);

inline uint64_t chunkCountFor(uint64_t diskSizeBytes) {
  return (diskSizeBytes + kChunkSize - 1) / kChunkSize;
}
inline uint64_t bitmapBytesFor(uint64_t diskSizeBytes) { return (chunkCountFor(diskSizeBytes) + 7) / 8; }

}  // namespace lanboot::cow
