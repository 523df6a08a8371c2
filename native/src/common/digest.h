// SHA-256 (FIPS 180-4) and MD5 (RFC 1321) through OpenSSL's libcrypto (EVP interface).
//
// The addon does not link a libcrypto of its own: it is compiled against the OpenSSL headers
// node-gyp gives it (those of the Node that loads it) and its EVP_* symbols resolve, at load
// time, to the libcrypto already in the process: the official Node binary exports its
// bundled OpenSSL, Debian's nodejs links libcrypto.so.3. The standalone tests and fuzzers
// (native/Makefile) link the system's -lcrypto (Debian libssl-dev). libcrypto picks the
// CPU's hash instructions at run time (x86 SHA extensions, ARMv8 crypto extensions).
// Why: docs/decisions/0022-libcrypto-digests.md.
//
// MD5 serves CHAP only (RFC 1994, CHAP_A=5 in RFC 7143 12.1.3), never anything that needs
// collision resistance. SHA-256 is recorded with every imported golden version.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of the includers of this header

namespace lanboot::common {

using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

// One running digest. A libcrypto failure (out of memory, or an algorithm the process's
// OpenSSL refuses, as a FIPS-only configuration refuses MD5) is kept and reported by
// finish(); update() after one does nothing.
class Digest {
 public:
  enum class Algorithm : uint8_t { kMd5, kSha256 };

  explicit Digest(Algorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const uint8_t* data, size_t length);
  // Writes the digest (16 bytes for MD5, 32 for SHA-256) to `out`, which holds `capacity`
  // bytes. False on any libcrypto failure, a `capacity` that does not fit the digest, or a
  // second call.
  bool finish(uint8_t* out, size_t capacity);

 private:
  evp_md_ctx_st* context_ = nullptr;
  size_t size_;  // digest bytes of the algorithm
  bool failed_ = false;
};

class Sha256 {
 public:
  Sha256() : digest_(Digest::Algorithm::kSha256) {}
  void update(const uint8_t* data, size_t length) { digest_.update(data, length); }
  std::optional<Sha256Digest> finish();

  static std::optional<Sha256Digest> digest(const uint8_t* data, size_t length);
  static std::string hex(const Sha256Digest& digest);

 private:
  Digest digest_;
};

class Md5 {
 public:
  Md5() : digest_(Digest::Algorithm::kMd5) {}
  void update(const uint8_t* data, size_t length) { digest_.update(data, length); }
  std::optional<Md5Digest> finish();

  static std::optional<Md5Digest> digest(const uint8_t* data, size_t length);

 private:
  Digest digest_;
};

}  // namespace lanboot::common
