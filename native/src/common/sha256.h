// SHA-256 (FIPS 180-4), written here for the same reason as md5.h: the addon links no crypto
// library (Debian's node and the official one bundle different OpenSSLs). Image imports
// record the SHA-256 of every golden version, so it runs over whole disks: on x86-64 CPUs
// with the SHA extensions the compression function uses them (about 1.6 GB/s on one core
// here, 4-5x the portable code); elsewhere the portable code runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lanboot::common {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t length);
  Sha256Digest finish();

  static Sha256Digest digest(const uint8_t* data, size_t length);
  static std::string hex(const Sha256Digest& digest);
  // Whether the SHA extensions are used on this CPU (for tests and the benchmark report).
  static bool accelerated();
  // Test hook: force the portable code (false) or the CPU's default (true).
  static void allowAcceleration(bool allow);

 private:
  void compress(const uint8_t* blocks, size_t count);
  uint32_t state_[8];
  uint64_t totalBytes_ = 0;
  uint8_t buffer_[64];
  size_t buffered_ = 0;
};

}  // namespace lanboot::common
