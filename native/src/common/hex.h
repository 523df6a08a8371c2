// Hex encoding of binary values (CHAP challenges and responses, RFC 7143 6.1; ISIDs; NAA ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lanboot::common {

// Lower-case hex without prefix.
std::string toHex(const uint8_t* data, size_t length);
// Accepts an optional 0x/0X prefix; nullopt for odd length, bad digits, or more than maxBytes.
std::optional<std::vector<uint8_t>> fromHex(const std::string& text, size_t maxBytes);

}  // namespace lanboot::common
