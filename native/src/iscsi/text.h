// iSCSI text parameters (RFC 7143 6.1): "key=value" pairs, each terminated by a NUL byte.
// Pure parsing and building; negotiation rules live in login.*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lanboot::iscsi {

constexpr size_t kMaxKeyLength = 63;            // RFC 7143 6.1: key names up to 63 bytes
constexpr size_t kMaxValueLength = 255;         // 6.1: simple values up to 255 bytes
constexpr size_t kMaxLongValueLength = 8192;    // 6.1: binary values (CHAP_C/CHAP_R) up to 8192
constexpr size_t kMaxTextBytes = 64 * 1024;     // our cap on one (multi-PDU) text exchange

struct TextPair {
  std::string key;
  std::string value;
  bool valueTooLong = false;  // answered with key=Reject, not a protocol error
};

enum class TextError {
  kNone = 0,
  kTooLarge,         // more than kMaxTextBytes
  kMissingEquals,    // "key" without '='
  kEmptyKey,
  kKeyTooLong,       // over 63 bytes
  kBadKeyCharacter,  // 6.1: key names use letters, digits, '.', '-', '+', '@', '_'
  kDuplicateKey,     // 6.2: a key must not be offered twice in one negotiation
  kNotTerminated,    // 6.1: the last pair lacks its NUL
};

const char* textErrorName(TextError error);

// Parses a complete text data segment (all PDUs of a C-bit sequence concatenated).
// Consecutive NULs (padding some initiators leave) are skipped; an unterminated last pair
// is an error (6.1: every pair, the last one included, ends with a NUL).
TextError parseTextPairs(const uint8_t* data, size_t length, std::vector<TextPair>* out);

void appendTextPair(std::vector<uint8_t>& out, const std::string& key, const std::string& value);

// Maximum value length allowed for a key (6.1 and section 13).
size_t maxValueLengthFor(const std::string& key);

// RFC 7143 6.1 numerical values: decimal, or hex with 0x prefix. nullopt on anything else
// or on overflow of 64 bits.
std::optional<uint64_t> parseNumber(const std::string& value);

// RFC 7143 6.1 binary values: 0x... hex or 0b... base64.
std::optional<std::vector<uint8_t>> parseBinary(const std::string& value, size_t maxBytes);

// Splits a comma-separated list value (6.2: "list of values").
std::vector<std::string> splitList(const std::string& value);

}  // namespace lanboot::iscsi
