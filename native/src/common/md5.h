// MD5 message digest (RFC 1321), written here because CHAP (RFC 1994, CHAP_A=5 in
// RFC 7143 12.1.3) needs it and the addon links no crypto library. MD5 is only used for
// CHAP's challenge/response, never for anything that needs collision resistance.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace lanboot::common {

using Md5Digest = std::array<uint8_t, 16>;

class Md5 {
 public:
  Md5();
  void update(const uint8_t* data, size_t length);
  Md5Digest finish();

  static Md5Digest digest(const uint8_t* data, size_t length);

 private:
  void transform(const uint8_t block[64]);
  uint32_t state_[4];
  uint64_t totalBytes_ = 0;
  uint8_t buffer_[64];
  size_t buffered_ = 0;
};

}  // namespace lanboot::common
