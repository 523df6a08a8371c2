// libFuzzer harness: text parameter parsing (RFC 7143 6.1) and the login negotiation state
// machine (6.2, 6.3, 12.1.3) fed arbitrary key=value bytes split into Login Requests.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "iscsi/login.h"
#include "iscsi/text.h"

namespace {

using namespace lanboot::iscsi;

class Directory : public LoginDirectory {
 public:
  std::optional<LoginTargetInfo> findTarget(const std::string& target, const std::string& initiator) override {
    if (target == "iqn.t") return LoginTargetInfo{target, initiator == "iqn.i", std::nullopt, std::nullopt};
    if (target == "iqn.c") {
      return LoginTargetInfo{target, initiator == "iqn.i", ChapSecret{"u", "secretsecret1"},
                             ChapSecret{"t", "secretsecret2"}};
    }
    return std::nullopt;
  }
};

bool counterRandom(uint8_t* out, size_t length) {
  static uint8_t counter = 0;
  for (size_t i = 0; i < length; ++i) out[i] = counter++;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<TextPair> pairs;
  parseTextPairs(data, size, &pairs);
  for (const auto& pair : pairs) {
    parseNumber(pair.value);
    parseBinary(pair.value, 64);
    splitList(pair.value);
  }

  // Login: each record is [flags byte][length byte][length bytes of text].
  Directory directory;
  LoginNegotiator negotiator(directory, TargetLimits{}, counterRandom);
  size_t position = 0;
  for (int pdu = 0; pdu < 16 && position + 2 <= size; ++pdu) {
    const uint8_t flags = data[position];
    size_t length = data[position + 1] * 4u;
    position += 2;
    if (length > size - position) length = size - position;
    InitiatorHeader header;
    header.opcode = Opcode::kLoginRequest;
    header.transit = (flags & 0x80) != 0;
    header.continueFlag = !header.transit && (flags & 0x40) != 0;
    header.currentStage = (flags >> 2) & 1;
    header.nextStage = header.transit ? ((flags & 1) ? 3 : 1) : 0;
    if (header.transit && header.nextStage <= header.currentStage) header.nextStage = 3;
    header.tsih = (flags & 0x20) ? 1 : 0;
    header.versionMin = (flags & 0x10) ? 1 : 0;
    auto step = negotiator.handle(header, data + position, length);
    position += length;
    // The response text must itself parse (we never emit malformed text).
    std::vector<TextPair> replyPairs;
    if (parseTextPairs(step.data.data(), step.data.size(), &replyPairs) != TextError::kNone) __builtin_trap();
    if (step.data.size() != step.response.dataSegmentLength) __builtin_trap();
    if (step.outcome != LoginNegotiator::Outcome::kContinue) break;
  }
  return 0;
}
