#include "iscsi/text.h"

#include <set>

#include "common/hex.h"

namespace lanboot::iscsi {

const char* textErrorName(TextError error) {
  switch (error) {
    case TextError::kNone: return "none";
    case TextError::kTooLarge: return "text too large";
    case TextError::kMissingEquals: return "key without '='";
    case TextError::kEmptyKey: return "empty key name";
    case TextError::kKeyTooLong: return "key name over 63 bytes";
    case TextError::kBadKeyCharacter: return "invalid character in key name";
    case TextError::kDuplicateKey: return "key offered twice";
    case TextError::kNotTerminated: return "last key=value pair not NUL-terminated";
  }
  return "unknown";
}

namespace {
bool isKeyCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '+' || c == '@' || c == '_';
}
}  // namespace

size_t maxValueLengthFor(const std::string& key) {
  if (key == "CHAP_C" || key == "CHAP_R") return kMaxLongValueLength;
  // SendTargets responses and TargetAddress may carry long lists; initiators do not send them.
  return kMaxValueLength;
}

TextError parseTextPairs(const uint8_t* data, size_t length, std::vector<TextPair>* out) {
  if (length > kMaxTextBytes) return TextError::kTooLarge;
  std::vector<TextPair> pairs;
  std::set<std::string> seen;
  size_t position = 0;
  while (position < length) {
    if (data[position] == 0) {  // empty entry / trailing padding
      ++position;
      continue;
    }
    size_t end = position;
    while (end < length && data[end] != 0) ++end;
    // 6.1: every pair, including the last, is followed by a NUL.
    if (end == length) return TextError::kNotTerminated;
    const char* text = reinterpret_cast<const char*>(data + position);
    const size_t pairLength = end - position;
    size_t equals = 0;
    while (equals < pairLength && text[equals] != '=') ++equals;
    if (equals == pairLength) return TextError::kMissingEquals;
    if (equals == 0) return TextError::kEmptyKey;
    if (equals > kMaxKeyLength) return TextError::kKeyTooLong;
    TextPair pair;
    pair.key.assign(text, equals);
    for (size_t i = 0; i < pair.key.size(); ++i) {
      // 13.5.4 / 6.1: "X#" starts IANA-registered extension keys; '#' is valid only there.
      const bool extensionMark = i == 1 && pair.key[0] == 'X' && pair.key[1] == '#';
      if (!isKeyCharacter(pair.key[i]) && !extensionMark) return TextError::kBadKeyCharacter;
    }
    const size_t valueLength = pairLength - equals - 1;
    if (valueLength > maxValueLengthFor(pair.key)) {
      pair.valueTooLong = true;
    } else {
      pair.value.assign(text + equals + 1, valueLength);
    }
    if (!seen.insert(pair.key).second) return TextError::kDuplicateKey;
    pairs.push_back(std::move(pair));
    position = end + 1;
  }
  *out = std::move(pairs);
  return TextError::kNone;
}

void appendTextPair(std::vector<uint8_t>& out, const std::string& key, const std::string& value) {
  out.insert(out.end(), key.begin(), key.end());
  out.push_back('=');
  out.insert(out.end(), value.begin(), value.end());
  out.push_back(0);
}

std::optional<uint64_t> parseNumber(const std::string& value) {
  if (value.empty()) return std::nullopt;
  uint64_t result = 0;
  if (value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
    if (value.size() - 2 > 16) return std::nullopt;
    for (size_t i = 2; i < value.size(); ++i) {
      char c = value[i];
      int digit;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      else return std::nullopt;
      result = (result << 4) | uint64_t(digit);
    }
    return result;
  }
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t digit = uint64_t(c - '0');
    if (result > (~uint64_t(0) - digit) / 10) return std::nullopt;
    result = result * 10 + digit;
  }
  return result;
}

namespace {
int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<std::vector<uint8_t>> parseBinary(const std::string& value, size_t maxBytes) {
  if (value.size() > 2 && value[0] == '0' && (value[1] == 'b' || value[1] == 'B')) {
    std::vector<uint8_t> out;
    uint32_t accumulator = 0;
    int bits = 0;
    size_t padding = 0;
    for (size_t i = 2; i < value.size(); ++i) {
      char c = value[i];
      if (c == '=') {
        ++padding;
        continue;
      }
      if (padding > 0) return std::nullopt;  // data after padding
      int v = base64Value(c);
      if (v < 0) return std::nullopt;
      accumulator = (accumulator << 6) | uint32_t(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(uint8_t(accumulator >> bits));
        if (out.size() > maxBytes) return std::nullopt;
      }
    }
    if (padding > 2 || out.empty()) return std::nullopt;
    return out;
  }
  if (value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
    return common::fromHex(value, maxBytes);
  }
  return std::nullopt;
}

std::vector<std::string> splitList(const std::string& value) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    items.push_back(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

}  // namespace lanboot::iscsi
