#include "common/hex.h"

namespace lanboot::common {
namespace {
int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string toHex(const uint8_t* data, size_t length) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::optional<std::vector<uint8_t>> fromHex(const std::string& text, size_t maxBytes) {
  size_t start = 0;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) start = 2;
  size_t digits = text.size() - start;
  if (digits == 0 || digits % 2 != 0 || digits / 2 > maxBytes) return std::nullopt;
  std::vector<uint8_t> out(digits / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int high = hexDigitValue(text[start + 2 * i]);
    int low = hexDigitValue(text[start + 2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = uint8_t((high << 4) | low);
  }
  return out;
}

}  // namespace lanboot::common
