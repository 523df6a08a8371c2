// Text parameters (RFC 7143 6.1) and login negotiation (6.2, 6.3, 12.1.3, section 13) fed
// literal key=value bytes as iPXE, libiscsi, open-iscsi and Windows send them.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/hex.h"
#include "common/digest.h"
#include "iscsi/login.h"
#include "iscsi/text.h"
#include "check.h"


using namespace lanboot::iscsi;

namespace {

// "k=v" items joined as on the wire: each followed by a NUL (RFC 7143 6.1).
std::string kv(std::initializer_list<const char*> items) {
  std::string out;
  for (const char* item : items) {
    out += item;
    out.push_back('\0');
  }
  return out;
}

std::vector<uint8_t> text(const std::string& literal) { return std::vector<uint8_t>(literal.begin(), literal.end()); }

std::map<std::string, std::string> keysOf(const std::vector<uint8_t>& data) {
  std::vector<TextPair> pairs;
  std::map<std::string, std::string> out;
  if (parseTextPairs(data.data(), data.size(), &pairs) != TextError::kNone) {
    out["<parse error>"] = "";
    return out;
  }
  for (auto& p : pairs) out[p.key] = p.value;
  return out;
}

class Directory : public LoginDirectory {
 public:
  std::optional<LoginTargetInfo> findTarget(const std::string& targetName, const std::string& initiatorName) override {
    if (targetName == "iqn.2026-01.lanboot:open") {
      return LoginTargetInfo{targetName, initiatorName == "iqn.2026-01.test:pc1", std::nullopt, std::nullopt};
    }
    if (targetName == "iqn.2026-01.lanboot:chap") {
      return LoginTargetInfo{targetName, initiatorName == "iqn.2026-01.test:pc1",
                             ChapSecret{"pc1", "onewaysecret1"}, ChapSecret{"target", "mutualsecret2"}};
    }
    return std::nullopt;
  }
};

// Deterministic "random" source: identifier 0x11, challenge bytes 0x20..0x2f.
bool fixedRandom(uint8_t* out, size_t length) {
  for (size_t i = 0; i < length; ++i) out[i] = i == 0 ? 0x11 : uint8_t(0x1f + i);
  return true;
}

InitiatorHeader loginHeader(uint8_t csg, uint8_t nsg, bool transit, bool cont = false) {
  InitiatorHeader h;
  h.opcode = Opcode::kLoginRequest;
  h.immediate = true;
  h.transit = transit;
  h.continueFlag = cont;
  h.currentStage = csg;
  h.nextStage = nsg;
  h.isid = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
  h.initiatorTaskTag = 1;
  h.connectionId = 1;
  h.cmdSn = 1;
  return h;
}

LoginNegotiator::Step send(LoginNegotiator& n, const InitiatorHeader& h, const std::string& literal) {
  auto bytes = text(literal);
  return n.handle(h, bytes.data(), bytes.size());
}

std::string chapResponseHex(uint8_t id, const std::string& secret, const std::vector<uint8_t>& challenge) {
  lanboot::common::Md5 md5;
  md5.update(&id, 1);
  md5.update(reinterpret_cast<const uint8_t*>(secret.data()), secret.size());
  md5.update(challenge.data(), challenge.size());
  auto d = md5.finish();
  if (!d) return "MD5 failed";
  return "0x" + lanboot::common::toHex(d->data(), d->size());
}

const std::string kIpxeSecurity = kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:open"}) +
                                  kv({"SessionType=Normal", "AuthMethod=CHAP,None"});

// What iPXE's iscsi.c sends in the operational stage.
const std::string kIpxeOperational = kv({"HeaderDigest=None", "DataDigest=None", "MaxConnections=1", "InitialR2T=Yes", "ImmediateData=No", "MaxRecvDataSegmentLength=8192", "MaxBurstLength=262144", "FirstBurstLength=65536", "DefaultTime2Wait=0", "DefaultTime2Retain=0", "MaxOutstandingR2T=1", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "ErrorRecoveryLevel=0"});

}  // namespace

static void testTextParsing() {
  std::vector<TextPair> pairs;
  auto ok = text((kv({"A=1", "B=two"}) + std::string(2, '\0')));
  CHECK(parseTextPairs(ok.data(), ok.size(), &pairs) == TextError::kNone);
  CHECK(pairs.size() == 2 && pairs[0].key == "A" && pairs[1].value == "two");
  auto unterminated = text(kv({"A=1"}) + "Key=value");
  CHECK(parseTextPairs(unterminated.data(), unterminated.size(), &pairs) == TextError::kNotTerminated);
  auto emptyValue = text(kv({"SendTargets="}));
  CHECK(parseTextPairs(emptyValue.data(), emptyValue.size(), &pairs) == TextError::kNone);
  CHECK(pairs.size() == 1 && pairs[0].value.empty());
  auto noEquals = text(kv({"Key"}));
  CHECK(parseTextPairs(noEquals.data(), noEquals.size(), &pairs) == TextError::kMissingEquals);
  auto emptyKey = text(kv({"=x"}));
  CHECK(parseTextPairs(emptyKey.data(), emptyKey.size(), &pairs) == TextError::kEmptyKey);
  auto key63 = text(std::string(63, 'K') + "=v" + std::string(1, '\0'));
  CHECK(parseTextPairs(key63.data(), key63.size(), &pairs) == TextError::kNone);
  auto key64 = text(std::string(64, 'K') + "=v" + std::string(1, '\0'));
  CHECK(parseTextPairs(key64.data(), key64.size(), &pairs) == TextError::kKeyTooLong);
  auto badChar = text(kv({"Ke y=v"}));
  CHECK(parseTextPairs(badChar.data(), badChar.size(), &pairs) == TextError::kBadKeyCharacter);
  auto duplicate = text(kv({"A=1", "A=2"}));
  CHECK(parseTextPairs(duplicate.data(), duplicate.size(), &pairs) == TextError::kDuplicateKey);
  auto longValue = text("TargetAlias=" + std::string(256, 'v') + std::string(1, '\0'));
  CHECK(parseTextPairs(longValue.data(), longValue.size(), &pairs) == TextError::kNone);
  CHECK(pairs[0].valueTooLong);
  auto value255 = text("TargetAlias=" + std::string(255, 'v') + std::string(1, '\0'));
  CHECK(parseTextPairs(value255.data(), value255.size(), &pairs) == TextError::kNone);
  CHECK(!pairs[0].valueTooLong);
  auto chapLong = text("CHAP_C=0x" + std::string(8000, 'a') + std::string(1, '\0'));
  CHECK(parseTextPairs(chapLong.data(), chapLong.size(), &pairs) == TextError::kNone);
  CHECK(!pairs[0].valueTooLong);
  std::vector<uint8_t> huge(kMaxTextBytes + 1, 'a');
  huge.back() = 0;
  CHECK(parseTextPairs(huge.data(), huge.size(), &pairs) == TextError::kTooLarge);

  CHECK(parseNumber("8192") == 8192u);
  CHECK(parseNumber("0x2000") == 8192u);
  CHECK(!parseNumber(""));
  CHECK(!parseNumber("12a"));
  CHECK(!parseNumber("-1"));
  CHECK(!parseNumber("99999999999999999999999"));
  auto b64 = parseBinary("0bAQID", 16);
  CHECK(b64 && b64->size() == 3 && (*b64)[2] == 3);
  auto hex = parseBinary("0x0102", 16);
  CHECK(hex && hex->size() == 2);
  CHECK(!parseBinary("0102", 16));
  CHECK(!parseBinary("0b!!", 16));
  CHECK(splitList("CHAP,None").size() == 2);
}

static void testIpxeLoginWithoutChap() {
  Directory directory;
  LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
  auto step = send(n, loginHeader(0, 1, true), kIpxeSecurity);
  CHECK(step.outcome == LoginNegotiator::Outcome::kContinue);
  auto keys = keysOf(step.data);
  CHECK(keys["AuthMethod"] == "None");
  CHECK(keys["TargetPortalGroupTag"] == "1");
  CHECK(step.response.transit && step.response.nextStage == 1 && step.response.statusClass == 0);

  step = send(n, loginHeader(1, 3, true), kIpxeOperational);
  CHECK(step.outcome == LoginNegotiator::Outcome::kFullFeature);
  keys = keysOf(step.data);
  CHECK(keys["HeaderDigest"] == "None" && keys["DataDigest"] == "None");
  CHECK(keys["MaxConnections"] == "1");
  CHECK(keys["InitialR2T"] == "Yes");    // OR: iPXE wants Yes
  CHECK(keys["ImmediateData"] == "No");  // AND: iPXE says No
  CHECK(keys["MaxRecvDataSegmentLength"] == "262144");  // our declaration
  CHECK(keys["MaxBurstLength"] == "262144");
  CHECK(keys["FirstBurstLength"] == "65536");
  CHECK(keys["DefaultTime2Wait"] == "0");
  CHECK(keys["DefaultTime2Retain"] == "0");
  CHECK(keys["MaxOutstandingR2T"] == "1");
  CHECK(keys["DataPDUInOrder"] == "Yes" && keys["DataSequenceInOrder"] == "Yes");
  CHECK(keys["ErrorRecoveryLevel"] == "0");
  CHECK(step.response.transit && step.response.nextStage == 3);
  const auto& p = n.parameters();
  CHECK(p.initiatorMaxRecvDataSegmentLength == 8192);
  CHECK(p.targetMaxRecvDataSegmentLength == 262144);
  CHECK(p.initialR2T && !p.immediateData);
  CHECK(p.maxBurstLength == 262144 && p.firstBurstLength == 65536);
  CHECK(n.initiatorName() == "iqn.2026-01.test:pc1" && n.targetName() == "iqn.2026-01.lanboot:open");
  CHECK(!n.discovery());
}

static void testOperationalEdgeCases() {
  Directory directory;
  LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
  // Start straight in the operational stage (allowed without authentication), Linux style.
  auto step = send(n, loginHeader(1, 3, true),
                   kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:open"}) +
                       kv({"InitialR2T=No", "ImmediateData=Yes", "MaxBurstLength=abc", "FirstBurstLength=100", "X-com.example.Foo=1", "X#vendor=2", "UnknownKey=3", "IFMarker=Yes", "OFMarkInt=2048~8192", "ErrorRecoveryLevel=2", "MaxConnections=8", "HeaderDigest=CRC32C", "DataDigest=CRC32C,None", "DataPDUInOrder=Maybe"}));
  CHECK(step.outcome == LoginNegotiator::Outcome::kFullFeature);
  auto keys = keysOf(step.data);
  CHECK(keys["InitialR2T"] == "No");
  CHECK(keys["ImmediateData"] == "Yes");
  CHECK(keys["MaxBurstLength"] == "Reject");     // not a number (6.2.1)
  CHECK(keys["FirstBurstLength"] == "Reject");   // below 512 (13.14)
  CHECK(keys["X-com.example.Foo"] == "NotUnderstood");
  CHECK(keys["X#vendor"] == "NotUnderstood");
  CHECK(keys["UnknownKey"] == "NotUnderstood");
  CHECK(keys["IFMarker"] == "No");
  CHECK(keys["OFMarkInt"] == "Irrelevant");
  CHECK(keys["ErrorRecoveryLevel"] == "0");
  CHECK(keys["MaxConnections"] == "1");
  CHECK(keys["HeaderDigest"] == "Reject");
  CHECK(keys["DataDigest"] == "None");
  CHECK(keys["DataPDUInOrder"] == "Reject");
  CHECK(keys["TargetPortalGroupTag"] == "1");
  CHECK(keys["MaxRecvDataSegmentLength"] == "262144");
  CHECK(!n.parameters().initialR2T && n.parameters().immediateData);
}

static void testLoginFailures() {
  Directory directory;
  struct Case {
    std::string body;
    uint8_t detail;
  };
  const Case cases[] = {
      {kv({"TargetName=iqn.2026-01.lanboot:open", "AuthMethod=None"}), 0x07},  // no InitiatorName
      {kv({"InitiatorName=iqn.2026-01.test:pc1", "AuthMethod=None"}), 0x07},   // no TargetName
      {kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.nope"}), 0x03},
      {kv({"InitiatorName=iqn.2026-01.test:pc9", "TargetName=iqn.2026-01.lanboot:open"}), 0x02},
      {kv({"InitiatorName=iqn.2026-01.test:pc1", "SessionType=Bogus"}), 0x09},
      {kv({"InitiatorName=iqn.2026-01.test:pc1", "InitiatorName=iqn.2026-01.test:pc1"}), 0x00},
      {kv({"InitiatorName"}), 0x00},
  };
  for (const auto& c : cases) {
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto step = send(n, loginHeader(0, 1, true), c.body);
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed);
    CHECK(step.response.statusClass == 2);
    CHECK(step.response.statusDetail == c.detail);
    CHECK(!step.failureReason.empty());
  }
  // Unsupported version (11.12.4 / 11.13.5 0205).
  {
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto h = loginHeader(0, 1, true);
    h.versionMin = 1;
    h.versionMax = 1;
    auto step = send(n, h, kIpxeSecurity);
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 0x05);
  }
  // A second connection (TSIH != 0) to a session: MaxConnections is 1 (0x020a).
  {
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto h = loginHeader(0, 1, true);
    h.tsih = 5;
    auto step = send(n, h, kIpxeSecurity);
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 0x0a);
  }
  // ISID changing between login PDUs.
  {
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto step = send(n, loginHeader(0, 1, false), kIpxeSecurity);
    CHECK(step.outcome == LoginNegotiator::Outcome::kContinue && !step.response.transit);
    auto h = loginHeader(0, 1, true);
    h.isid[5] = 9;
    step = send(n, h, "");
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusClass == 2);
  }
}

static void testChap(bool mutual) {
  Directory directory;
  LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
  std::string first = kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:chap"}) +
                      kv({"SessionType=Normal", "AuthMethod=CHAP,None"});
  auto step = send(n, loginHeader(0, 1, true), first);
  CHECK(step.outcome == LoginNegotiator::Outcome::kContinue);
  CHECK(keysOf(step.data)["AuthMethod"] == "CHAP");
  CHECK(!step.response.transit);  // authentication not done yet
  step = send(n, loginHeader(0, 1, true), kv({"CHAP_A=7,5"}));
  auto keys = keysOf(step.data);
  CHECK(keys["CHAP_A"] == "5");
  CHECK(keys["CHAP_I"] == "17");  // 0x11 from fixedRandom
  std::vector<uint8_t> challenge;
  for (int i = 0; i < 16; ++i) challenge.push_back(uint8_t(0x20 + i));
  CHECK(keys["CHAP_C"] == "0x" + lanboot::common::toHex(challenge.data(), challenge.size()));
  CHECK(!step.response.transit);
  std::string answer = "CHAP_N=pc1" + std::string(1, '\0') + "CHAP_R=" + chapResponseHex(0x11, "onewaysecret1", challenge) +
                       std::string(1, '\0');
  std::vector<uint8_t> theirChallenge = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4};
  if (mutual) {
    answer += "CHAP_I=7" + std::string(1, '\0') + "CHAP_C=0x" +
              lanboot::common::toHex(theirChallenge.data(), theirChallenge.size()) + std::string(1, '\0');
  }
  step = send(n, loginHeader(0, 1, true), answer);
  CHECK(step.outcome == LoginNegotiator::Outcome::kContinue);
  CHECK(step.response.transit && step.response.nextStage == 1 && step.response.statusClass == 0);
  keys = keysOf(step.data);
  if (mutual) {
    CHECK(keys["CHAP_N"] == "target");
    CHECK(keys["CHAP_R"] == chapResponseHex(7, "mutualsecret2", theirChallenge));
  } else {
    CHECK(keys.count("CHAP_N") == 0);
  }
  step = send(n, loginHeader(1, 3, true), kIpxeOperational);
  CHECK(step.outcome == LoginNegotiator::Outcome::kFullFeature);
}

static void testChapFailures() {
  Directory directory;
  const std::string first =
      kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:chap"}) +
      kv({"AuthMethod=CHAP,None"});
  std::vector<uint8_t> challenge;
  for (int i = 0; i < 16; ++i) challenge.push_back(uint8_t(0x20 + i));
  auto toChallenge = [&](LoginNegotiator& n) {
    send(n, loginHeader(0, 1, true), first);
    return send(n, loginHeader(0, 1, true), kv({"CHAP_A=5"}));
  };
  {  // wrong secret
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    toChallenge(n);
    auto step = send(n, loginHeader(0, 1, true),
                     "CHAP_N=pc1" + std::string(1, '\0') + "CHAP_R=" + chapResponseHex(0x11, "wrongsecret", challenge) +
                         std::string(1, '\0'));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed);
    CHECK(step.response.statusClass == 2 && step.response.statusDetail == 1);
  }
  {  // wrong user name
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    toChallenge(n);
    auto step = send(n, loginHeader(0, 1, true),
                     "CHAP_N=pc2" + std::string(1, '\0') + "CHAP_R=" + chapResponseHex(0x11, "onewaysecret1", challenge) +
                         std::string(1, '\0'));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);
  }
  {  // reflected challenge (12.1.3)
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    toChallenge(n);
    auto step = send(n, loginHeader(0, 1, true),
                     "CHAP_N=pc1" + std::string(1, '\0') + "CHAP_R=" + chapResponseHex(0x11, "onewaysecret1", challenge) +
                         std::string(1, '\0') + "CHAP_I=17" + std::string(1, '\0') + "CHAP_C=0x" +
                         lanboot::common::toHex(challenge.data(), challenge.size()) + std::string(1, '\0'));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);
  }
  {  // no MD5 among the algorithms
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    send(n, loginHeader(0, 1, true), first);
    auto step = send(n, loginHeader(0, 1, true), kv({"CHAP_A=7"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);

  }
  {  // the initiator refuses CHAP although the target requires it
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto step = send(n, loginHeader(0, 1, true),
                     kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:chap"}) +
                         kv({"AuthMethod=None"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);
  }
  {  // skipping the security stage
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto step = send(n, loginHeader(1, 3, true),
                     kv({"InitiatorName=iqn.2026-01.test:pc1", "TargetName=iqn.2026-01.lanboot:chap"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);
  }
  {  // CHAP_R before the challenge
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    send(n, loginHeader(0, 1, true), first);
    auto step = send(n, loginHeader(0, 1, true), kv({"CHAP_N=pc1", "CHAP_R=0x00"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFailed && step.response.statusDetail == 1);
  }
}

static void testDiscoveryAndContinuation() {
  Directory directory;
  {
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    auto step = send(n, loginHeader(0, 1, true),
                     kv({"InitiatorName=iqn.2026-01.test:other", "SessionType=Discovery", "AuthMethod=None"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kContinue && step.response.transit);
    CHECK(keysOf(step.data).count("TargetPortalGroupTag") == 0);
    CHECK(n.discovery());
    step = send(n, loginHeader(1, 3, true), kv({"MaxRecvDataSegmentLength=65536"}));
    CHECK(step.outcome == LoginNegotiator::Outcome::kFullFeature);
  }
  {  // Text split over two PDUs with the C bit (11.12.2), cut in the middle of a key.
    LoginNegotiator n(directory, TargetLimits{}, fixedRandom);
    const std::string whole = kIpxeSecurity;
    auto step = send(n, loginHeader(0, 1, false, true), whole.substr(0, 40));
    CHECK(step.outcome == LoginNegotiator::Outcome::kContinue && step.data.empty() && !step.response.transit);
    step = send(n, loginHeader(0, 1, true), whole.substr(40));
    CHECK(step.outcome == LoginNegotiator::Outcome::kContinue && step.response.transit);
    CHECK(keysOf(step.data)["AuthMethod"] == "None");
  }
}

int main() {
  testTextParsing();
  testIpxeLoginWithoutChap();
  testOperationalEdgeCases();
  testLoginFailures();
  testChap(false);
  testChap(true);
  testChapFailures();
  testDiscoveryAndContinuation();
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
