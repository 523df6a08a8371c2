// SHA-256 against the FIPS 180-2 appendix B examples, and the SHA-NI code against the
// portable code on the same random input fed in uneven pieces.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "common/sha256.h"

using lanboot::common::Sha256;

namespace {

std::string hexOf(const std::string& text) {
  return Sha256::hex(Sha256::digest(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void checkHex(const std::string& got, const char* want, const char* what) {
  if (got != want) {
    std::fprintf(stderr, "%s: got %s want %s\n", what, got.c_str(), want);
    ++failures;
  }
}

void knownAnswers() {
  checkHex(hexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
  checkHex(hexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
  checkHex(hexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks");
  Sha256 million;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(reinterpret_cast<const uint8_t*>(a.data()), a.size());
  checkHex(Sha256::hex(million.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "a million a");
  // Lengths around the padding boundary (55, 56, 63, 64 bytes) take the one- and two-block paths.
  checkHex(hexOf(std::string(55, 'x')), "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072", "55 bytes");
  checkHex(hexOf(std::string(56, 'x')), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e", "56 bytes");
  checkHex(hexOf(std::string(63, 'x')), "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2", "63 bytes");
  checkHex(hexOf(std::string(64, 'x')), "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c", "64 bytes");
}

std::string hashInPieces(const std::vector<uint8_t>& data, std::mt19937& random) {
  Sha256 hash;
  size_t done = 0;
  while (done < data.size()) {
    size_t piece = std::min<size_t>(data.size() - done, random() % 300);
    hash.update(data.data() + done, piece);
    done += piece;
  }
  return Sha256::hex(hash.finish());
}

void acceleratedMatchesPortable() {
  std::mt19937 random(7);
  for (size_t length : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 127u, 128u, 1000u, 4096u, 100003u}) {
    std::vector<uint8_t> data(length);
    for (auto& byte : data) byte = uint8_t(random());
    std::mt19937 splitA(length), splitB(length + 1);
    Sha256::allowAcceleration(false);
    std::string portable = hashInPieces(data, splitA);
    std::string portableWhole = Sha256::hex(Sha256::digest(data.data(), data.size()));
    Sha256::allowAcceleration(true);
    std::string fast = hashInPieces(data, splitB);
    CHECK(portable == portableWhole);
    CHECK(portable == fast);
  }
  std::fprintf(stderr, "sha256: SHA extensions %s on this CPU\n", Sha256::accelerated() ? "used" : "not available");
}

}  // namespace

int main() {
  knownAnswers();
  Sha256::allowAcceleration(false);
  knownAnswers();
  Sha256::allowAcceleration(true);
  acceleratedMatchesPortable();
  if (failures == 0) std::printf("common_sha256_test: ok\n");
  return failures == 0 ? 0 : 1;
}
