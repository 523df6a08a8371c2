// The small helpers in native/src/common: byte order at any offset (no alignment assumed),
// hex encoding, random bytes.
#include <cstdio>
#include <cstring>
#include <string>

#include "common/byte_order.h"
#include "common/hex.h"
#include "common/random.h"
#include "check.h"

using namespace lanboot::common;

static void byteOrder() {
  // Every offset of a buffer, so unaligned loads and stores are exercised (UBSan checks them).
  for (size_t at = 0; at < 8; ++at) {
    uint8_t b[24] = {};
    storeBe16(b + at, 0x0102);
    CHECK(b[at] == 0x01 && b[at + 1] == 0x02 && loadBe16(b + at) == 0x0102);
    storeBe24(b + at, 0xabcdef);
    CHECK(b[at] == 0xab && b[at + 2] == 0xef && loadBe24(b + at) == 0xabcdef);
    storeBe32(b + at, 0x01020304u);
    CHECK(b[at] == 0x01 && b[at + 3] == 0x04 && loadBe32(b + at) == 0x01020304u);
    storeBe64(b + at, 0x0102030405060708ull);
    CHECK(b[at] == 0x01 && b[at + 7] == 0x08 && loadBe64(b + at) == 0x0102030405060708ull);
    storeLe32(b + at, 0x01020304u);
    CHECK(b[at] == 0x04 && b[at + 3] == 0x01 && loadLe32(b + at) == 0x01020304u);
    storeLe64(b + at, 0x0102030405060708ull);
    CHECK(b[at] == 0x08 && b[at + 7] == 0x01 && loadLe64(b + at) == 0x0102030405060708ull);
    CHECK(b[at + 8] == 0);  // nothing written past the field
  }
  const uint8_t high[8] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8};
  CHECK(loadBe16(high) == 0xfffe && loadBe24(high) == 0xfffefd && loadBe32(high) == 0xfffefdfcu);
  CHECK(loadBe64(high) == 0xfffefdfcfbfaf9f8ull && loadLe32(high) == 0xfcfdfeffu);
  CHECK(loadLe64(high) == 0xf8f9fafbfcfdfeffull);
}

static void hexText() {
  const uint8_t bytes[3] = {0x00, 0xa1, 0xff};
  CHECK(toHex(bytes, 3) == "00a1ff");
  auto parsed = fromHex("0xA1b2", 8);
  CHECK(parsed && parsed->size() == 2 && (*parsed)[0] == 0xa1 && (*parsed)[1] == 0xb2);
  CHECK(!fromHex("0xabc", 8));     // odd length
  CHECK(!fromHex("0xzz", 8));      // bad digit
  CHECK(!fromHex("0x112233", 2));  // over the limit
  CHECK(!fromHex("", 8));
  CHECK(!fromHex("0x", 8));
}

static void randomBytes() {
  // Two 16-byte draws differ (probability of a false failure 2^-128).
  uint8_t a[16], b[16];
  CHECK(fillRandom(a, sizeof a));
  CHECK(fillRandom(b, sizeof b));
  CHECK(std::memcmp(a, b, sizeof a) != 0);
}

int main() {
  byteOrder();
  hexText();
  randomBytes();
  std::printf("common_test: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
