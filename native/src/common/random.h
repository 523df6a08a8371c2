// Cryptographically strong random bytes from the kernel (getrandom(2)): CHAP challenges must
// be unpredictable (RFC 1994 2.3, RFC 7143 12.1.3).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lanboot::common {

// Fills `out`; returns false only if the kernel refuses (never silently weak bytes).
bool fillRandom(uint8_t* out, size_t length);

}  // namespace lanboot::common
