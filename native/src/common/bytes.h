// Big-endian field access (iSCSI is network byte order, RFC 7143 11.1) and hex encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lanboot::common {

inline uint16_t loadBe16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t loadBe24(const uint8_t* p) { return (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2]; }
inline uint32_t loadBe32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t loadBe64(const uint8_t* p) { return (uint64_t(loadBe32(p)) << 32) | loadBe32(p + 4); }
inline void storeBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void storeBe24(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 16);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v);
}
inline void storeBe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void storeBe64(uint8_t* p, uint64_t v) {
  storeBe32(p, uint32_t(v >> 32));
  storeBe32(p + 4, uint32_t(v));
}

// Lower-case hex without prefix.
std::string toHex(const uint8_t* data, size_t length);
// Accepts an optional 0x/0X prefix; nullopt for odd length, bad digits, or more than maxBytes.
std::optional<std::vector<uint8_t>> fromHex(const std::string& text, size_t maxBytes);

}  // namespace lanboot::common
