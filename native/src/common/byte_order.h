// Fixed-width integers at byte offsets in wire and disk formats: big-endian for iSCSI
// (RFC 7143 11.1, network byte order) and SCSI (SAM-5 3.5: most significant byte first),
// little-endian for the copy-on-write map header. The one place in native/ that knows the
// host's byte order. Loads and stores go through memcpy, so any offset is fine on any CPU
// (no unaligned-pointer casts); compilers turn memcpy + bswap into one load/store + bswap, or
// a movbe.
#pragma once

#include <cstdint>
#include <cstring>

namespace lanboot::common {

#if !defined(__BYTE_ORDER__) || \
    (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ && __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__)
#error "byte_order.h needs a little- or big-endian host (GCC/Clang __BYTE_ORDER__)"
#endif

namespace byte_order_detail {
constexpr bool kHostLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

inline uint16_t swap(uint16_t v) { return __builtin_bswap16(v); }
inline uint32_t swap(uint32_t v) { return __builtin_bswap32(v); }
inline uint64_t swap(uint64_t v) { return __builtin_bswap64(v); }

template <typename T>
inline T load(const uint8_t* p, bool bigEndian) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return bigEndian == kHostLittleEndian ? swap(v) : v;
}

template <typename T>
inline void store(uint8_t* p, T v, bool bigEndian) {
  if (bigEndian == kHostLittleEndian) v = swap(v);
  std::memcpy(p, &v, sizeof v);
}
}  // namespace byte_order_detail

inline uint16_t loadBe16(const uint8_t* p) { return byte_order_detail::load<uint16_t>(p, true); }
inline uint32_t loadBe32(const uint8_t* p) { return byte_order_detail::load<uint32_t>(p, true); }
inline uint64_t loadBe64(const uint8_t* p) { return byte_order_detail::load<uint64_t>(p, true); }
// 24-bit fields (iSCSI DataSegmentLength, RFC 7143 11.2.1.1): three bytes, no wider access.
inline uint32_t loadBe24(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }

inline void storeBe16(uint8_t* p, uint16_t v) { byte_order_detail::store(p, v, true); }
inline void storeBe32(uint8_t* p, uint32_t v) { byte_order_detail::store(p, v, true); }
inline void storeBe64(uint8_t* p, uint64_t v) { byte_order_detail::store(p, v, true); }
inline void storeBe24(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 16);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v);
}

inline uint32_t loadLe32(const uint8_t* p) { return byte_order_detail::load<uint32_t>(p, false); }
inline uint64_t loadLe64(const uint8_t* p) { return byte_order_detail::load<uint64_t>(p, false); }
inline void storeLe32(uint8_t* p, uint32_t v) { byte_order_detail::store(p, v, false); }
inline void storeLe64(uint8_t* p, uint64_t v) { byte_order_detail::store(p, v, false); }

}  // namespace lanboot::common
