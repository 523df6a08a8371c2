// The libcrypto-backed digests (common/digest.h): SHA-256 against the FIPS 180-2 appendix B
// examples and padding boundaries, MD5 against the RFC 1321 appendix A.5 suite, the CHAP
// response formula of RFC 1994 4.1, and the same digest whether the input comes whole or in
// uneven pieces. libcrypto picks its SHA-256 code by CPU at run time (ARMv8 crypto extensions,
// x86 SHA extensions); the cross target of native/Makefile runs this test twice under
// qemu-user, once as the CPU allows and once with OPENSSL_armcap=0 (the portable code), so
// both paths meet the same known answers, including the 1 MiB one below.
#include <cstdio>
#include <cstdlib>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "common/digest.h"
#include "common/hex.h"

using namespace lanboot::common;

namespace {

const uint8_t* bytesOf(const std::string& text) { return reinterpret_cast<const uint8_t*>(text.data()); }

std::string sha256Hex(const std::string& text) {
  auto digest = Sha256::digest(bytesOf(text), text.size());
  return digest ? Sha256::hex(*digest) : "failed";
}

std::string md5Hex(const std::string& text) {
  auto digest = Md5::digest(bytesOf(text), text.size());
  return digest ? toHex(digest->data(), digest->size()) : "failed";
}

void checkHex(const std::string& got, const char* want, const char* what) {
  if (got != want) {
    std::fprintf(stderr, "%s: got %s want %s\n", what, got.c_str(), want);
    ++failures;
  }
}

void sha256KnownAnswers() {
  checkHex(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
  checkHex(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
  checkHex(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks");
  Sha256 million;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(bytesOf(a), a.size());
  auto digest = million.finish();
  checkHex(digest ? Sha256::hex(*digest) : "failed",
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a");
  // Lengths around the padding boundary (55, 56, 63, 64 bytes): one- and two-block padding.
  checkHex(sha256Hex(std::string(55, 'x')), "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072", "55 bytes");
  checkHex(sha256Hex(std::string(56, 'x')), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e", "56 bytes");
  checkHex(sha256Hex(std::string(63, 'x')), "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2", "63 bytes");
  checkHex(sha256Hex(std::string(64, 'x')), "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c", "64 bytes");
}

void md5KnownAnswers() {
  // RFC 1321 A.5
  checkHex(md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e", "md5 empty");
  checkHex(md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661", "md5 a");
  checkHex(md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72", "md5 abc");
  checkHex(md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0", "md5 message digest");
  checkHex(md5Hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b", "md5 alphabet");
  checkHex(md5Hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
           "d174ab98d277d9f5a5611c2c9f419d9f", "md5 alphanumeric");
  checkHex(md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
           "57edf4a22be3c955ac49da2e2107b67a", "md5 digits");
  // Lengths around the 56-byte padding boundary.
  checkHex(md5Hex(std::string(55, 'a')), "ef1772b6dff9a122358552954ad0df65", "md5 55");
  checkHex(md5Hex(std::string(56, 'a')), "3b0c8ac703f828b04c6c197006d17218", "md5 56");
  checkHex(md5Hex(std::string(64, 'a')), "014842d480b571495a4a0363793f7367", "md5 64");
}

void chapFormula() {
  // CHAP (RFC 1994 4.1): MD5(identifier || secret || challenge), fed in three updates, equals
  // the digest of the concatenation. The value itself is Python hashlib's (RFC 1994 has none).
  const uint8_t id = 0x2a;
  const std::string secret = "secretsecret12";
  const uint8_t challenge[4] = {1, 2, 3, 4};
  std::string joined(1, char(id));
  joined += secret;
  joined.append(reinterpret_cast<const char*>(challenge), 4);
  Md5 md5;
  md5.update(&id, 1);
  md5.update(bytesOf(secret), secret.size());
  md5.update(challenge, 4);
  auto d = md5.finish();
  CHECK(d && toHex(d->data(), d->size()) == md5Hex(joined));
  checkHex(md5Hex(joined), "098da0bff6d8e8a5da0b90b16da2208f", "chap response");
}

void piecesEqualWhole() {
  std::mt19937 random(7);
  for (size_t length : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 127u, 128u, 1000u, 4096u, 100003u}) {
    std::vector<uint8_t> data(length);
    for (auto& byte : data) byte = uint8_t(random());
    Sha256 sha;
    Md5 md5;
    size_t done = 0;
    while (done < data.size()) {
      const size_t piece = std::min<size_t>(data.size() - done, random() % 300);
      sha.update(data.data() + done, piece);
      md5.update(data.data() + done, piece);
      done += piece;
    }
    CHECK(sha.finish() == Sha256::digest(data.data(), data.size()));
    CHECK(md5.finish() == Md5::digest(data.data(), data.size()));
  }
}

// 1 MiB of bytes from a formula any language can repeat; the digest is Python hashlib's:
//   hashlib.sha256(bytes(((i * 2654435761) & 0xffffffff) >> 24 for i in range(1 << 20)))
// Long enough that the block function (the CPU-specific part) does nearly all the work.
void sha256LongKnownAnswer() {
  std::vector<uint8_t> data(size_t{1} << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t((uint32_t(i) * 2654435761u) >> 24);
  auto digest = Sha256::digest(data.data(), data.size());
  checkHex(digest ? Sha256::hex(*digest) : "failed", "ca6073392ee71dbd1a2d356c3caa233f8f828ae17f8f8ba8570ee3491be128ab", "1 MiB formula");
}

// Which SHA-256 code libcrypto can choose here: the run says so, so a cross run shows that
// the accelerated path was the one under test (OPENSSL_armcap=0 masks it off in libcrypto).
void reportCpuPath() {
#if defined(__aarch64__)
  const bool sha2 = (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0;
  const char* mask = std::getenv("OPENSSL_armcap");
  std::printf("common_digest_test: aarch64, CPU SHA-256 instructions %s, libcrypto %s\n", sha2 ? "present" : "absent",
              mask && std::string(mask) == "0" ? "limited to portable code (OPENSSL_armcap=0)" : "may use them");
#else
  std::printf("common_digest_test: %s\n", "not aarch64: libcrypto picks its own x86 path");
#endif
}

void finishOnce() {
  Sha256 sha;
  sha.update(bytesOf("abc"), 3);
  CHECK(sha.finish().has_value());
  CHECK(!sha.finish().has_value());  // a finished digest is not reused
  Digest raw(Digest::Algorithm::kSha256);
  uint8_t small[16];
  CHECK(!raw.finish(small, sizeof small));  // 32 bytes do not fit in 16
}

}  // namespace

int main() {
  reportCpuPath();
  sha256KnownAnswers();
  sha256LongKnownAnswer();
  md5KnownAnswers();
  chapFormula();
  piecesEqualWhole();
  finishOnce();
  std::printf("common_digest_test: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
