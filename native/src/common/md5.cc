// MD5 per RFC 1321 section 3 (steps 1-5), little-endian word order.
#include "common/md5.h"

#include <cstring>

namespace lanboot::common {
namespace {

// RFC 1321 3.4: T[i] = floor(2^32 * abs(sin(i+1))).
constexpr uint32_t kSineTable[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

// Per-round left-rotation amounts (RFC 1321 3.4, rounds 1-4).
constexpr uint8_t kShifts[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

inline uint32_t rotateLeft(uint32_t value, unsigned bits) { return (value << bits) | (value >> (32 - bits)); }

}  // namespace

Md5::Md5() : state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}, buffer_{} {}

void Md5::transform(const uint8_t block[64]) {
  uint32_t words[16];
  for (int i = 0; i < 16; ++i) {
    words[i] = uint32_t(block[i * 4]) | (uint32_t(block[i * 4 + 1]) << 8) | (uint32_t(block[i * 4 + 2]) << 16) |
               (uint32_t(block[i * 4 + 3]) << 24);
  }
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  for (int i = 0; i < 64; ++i) {
    uint32_t mixed;
    int wordIndex;
    if (i < 16) {
      mixed = (b & c) | (~b & d);
      wordIndex = i;
    } else if (i < 32) {
      mixed = (d & b) | (~d & c);
      wordIndex = (5 * i + 1) % 16;
    } else if (i < 48) {
      mixed = b ^ c ^ d;
      wordIndex = (3 * i + 5) % 16;
    } else {
      mixed = c ^ (b | ~d);
      wordIndex = (7 * i) % 16;
    }
    uint32_t rotated = rotateLeft(a + mixed + kSineTable[i] + words[wordIndex], kShifts[i]);
    a = d;
    d = c;
    c = b;
    b = b + rotated;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
}

void Md5::update(const uint8_t* data, size_t length) {
  totalBytes_ += length;
  while (length > 0) {
    size_t take = 64 - buffered_;
    if (take > length) take = length;
    std::memcpy(buffer_ + buffered_, data, take);
    buffered_ += take;
    data += take;
    length -= take;
    if (buffered_ == 64) {
      transform(buffer_);
      buffered_ = 0;
    }
  }
}

Md5Digest Md5::finish() {
  // RFC 1321 3.1/3.2: pad with 0x80 then zeros to 56 mod 64, then the bit length (LE).
  uint64_t bitLength = totalBytes_ * 8;
  uint8_t padding[72] = {0x80};
  size_t padLength = (buffered_ < 56) ? (56 - buffered_) : (120 - buffered_);
  update(padding, padLength);
  uint8_t lengthBytes[8];
  for (int i = 0; i < 8; ++i) lengthBytes[i] = uint8_t(bitLength >> (8 * i));
  update(lengthBytes, 8);
  Md5Digest out;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = uint8_t(state_[i] >> (8 * j));
  }
  return out;
}

Md5Digest Md5::digest(const uint8_t* data, size_t length) {
  Md5 md5;
  md5.update(data, length);
  return md5.finish();
}

}  // namespace lanboot::common
