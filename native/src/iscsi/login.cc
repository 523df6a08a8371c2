#include "iscsi/login.h"

#include <algorithm>
#include <cstring>

#include "common/hex.h"
#include "common/digest.h"

namespace lanboot::iscsi {
namespace {

constexpr uint8_t kChapAlgorithmMd5 = 5;      // RFC 7143 12.1.3 / RFC 1994: CHAP_A=5 is MD5
constexpr size_t kChapChallengeBytes = 16;
constexpr size_t kMaxInitiatorChallengeBytes = 1024;  // 12.1.3: CHAP_C may be long; cap ours

bool isSecurityKey(const std::string& key) {
  return key == "AuthMethod" || key.rfind("CHAP_", 0) == 0;
}

bool listContains(const std::string& list, const std::string& item) {
  for (const auto& v : splitList(list)) {
    if (v == item) return true;
  }
  return false;
}

std::optional<uint64_t> numberInRange(const std::string& value, uint64_t low, uint64_t high) {
  auto n = parseNumber(value);
  if (!n || *n < low || *n > high) return std::nullopt;
  return n;
}

std::optional<bool> parseBoolean(const std::string& value) {
  if (value == "Yes") return true;
  if (value == "No") return false;
  return std::nullopt;
}

const char* yesNo(bool value) { return value ? "Yes" : "No"; }

// nullopt when libcrypto cannot compute MD5 (out of memory, MD5 disabled): the login fails.
std::optional<common::Md5Digest> chapResponse(uint8_t identifier, const std::string& secret,
                                              const std::vector<uint8_t>& challenge) {
  // RFC 1994 4.1: Response = MD5(Identifier || secret || Challenge).
  common::Md5 md5;
  md5.update(&identifier, 1);
  md5.update(reinterpret_cast<const uint8_t*>(secret.data()), secret.size());
  md5.update(challenge.data(), challenge.size());
  return md5.finish();
}

bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length) {
  uint8_t difference = 0;
  for (size_t i = 0; i < length; ++i) difference |= uint8_t(a[i] ^ b[i]);
  return difference == 0;
}

}  // namespace

LoginNegotiator::LoginNegotiator(LoginDirectory& directory, TargetLimits limits,
                                 std::function<bool(uint8_t*, size_t)> randomSource)
    : directory_(directory), limits_(limits), randomSource_(std::move(randomSource)) {}

LoginNegotiator::Step LoginNegotiator::fail(const InitiatorHeader& request, LoginStatus status, std::string reason) {
  Step step;
  step.outcome = Outcome::kFailed;
  step.failureReason = std::move(reason);
  step.response.currentStage = request.currentStage;
  step.response.isid = request.isid;
  step.response.tsih = 0;
  step.response.itt = request.initiatorTaskTag;
  step.response.statusClass = status.statusClass;
  step.response.statusDetail = status.statusDetail;
  return step;
}

LoginNegotiator::Step LoginNegotiator::reply(const InitiatorHeader& request, std::vector<uint8_t> data, bool transit) {
  Step step;
  step.response.currentStage = request.currentStage;
  step.response.transit = transit;
  step.response.nextStage = transit ? request.nextStage : 0;
  step.response.isid = request.isid;
  step.response.tsih = request.tsih;
  step.response.itt = request.initiatorTaskTag;
  step.response.dataSegmentLength = uint32_t(data.size());
  step.data = std::move(data);
  if (transit) {
    expectedStage_ = request.nextStage;
    if (request.nextStage == kFullFeaturePhase) {
      step.outcome = Outcome::kFullFeature;
      if (!targetLimitsDeclared_) parameters_.targetMaxRecvDataSegmentLength = 8192;
      parameters_.firstBurstLength = std::min(parameters_.firstBurstLength, parameters_.maxBurstLength);
    }
  } else {
    expectedStage_ = request.currentStage;
  }
  return step;
}

bool LoginNegotiator::authenticationComplete() const {
  const bool chapRequired = !discovery_ && target_ && target_->chap.has_value();
  if (chapRequired) return authMethod_ == "CHAP" && chapState_ == ChapState::kDone;
  if (authMethod_ == "CHAP") return chapState_ == ChapState::kDone;
  return true;
}

bool LoginNegotiator::handleFirstRequest(const std::vector<TextPair>& pairs, LoginStatus* status, std::string* reason) {
  std::string sessionType = "Normal";  // 13.21 default
  bool haveInitiatorName = false, haveTargetName = false;
  for (const auto& pair : pairs) {
    if (pair.key == "InitiatorName") {
      initiatorName_ = pair.value;
      haveInitiatorName = !pair.valueTooLong && !pair.value.empty();
    } else if (pair.key == "TargetName") {
      targetName_ = pair.value;
      haveTargetName = !pair.valueTooLong && !pair.value.empty();
    } else if (pair.key == "SessionType") {
      sessionType = pair.value;
    }
  }
  // 13.5/13.4: InitiatorName always, TargetName for Normal sessions, in the first request.
  if (!haveInitiatorName) {
    *status = login_status::kMissingParameter;
    *reason = "InitiatorName missing in the first Login Request";
    return false;
  }
  if (sessionType == "Discovery") {
    discovery_ = true;
    return true;
  }
  if (sessionType != "Normal") {
    *status = login_status::kSessionTypeNotSupported;
    *reason = "unsupported SessionType " + sessionType;
    return false;
  }
  if (!haveTargetName) {
    *status = login_status::kMissingParameter;
    *reason = "TargetName missing in a Normal session login";
    return false;
  }
  target_ = directory_.findTarget(targetName_, initiatorName_);
  if (!target_) {
    *status = login_status::kNotFound;
    *reason = "no target " + targetName_;
    return false;
  }
  if (!target_->initiatorAllowed) {
    *status = login_status::kAuthorizationFailure;
    *reason = "initiator " + initiatorName_ + " is not allowed on " + targetName_;
    return false;
  }
  return true;
}

bool LoginNegotiator::negotiateSecurityKey(const TextPair& pair, std::vector<uint8_t>& reply, LoginStatus* status,
                                           std::string* reason) {
  if (pair.key != "AuthMethod") return true;  // CHAP_* handled together in negotiateChap
  if (!authMethod_.empty()) {
    *status = login_status::kInitiatorError;
    *reason = "AuthMethod renegotiated";
    return false;
  }
  const bool chapRequired = !discovery_ && target_ && target_->chap.has_value();
  if (chapRequired) {
    if (listContains(pair.value, "CHAP")) {
      authMethod_ = "CHAP";
      chapState_ = ChapState::kAwaitingAlgorithm;
      appendTextPair(reply, "AuthMethod", "CHAP");
      return true;
    }
    appendTextPair(reply, "AuthMethod", "Reject");
    *status = login_status::kAuthenticationFailure;
    *reason = "target requires CHAP; initiator offered " + pair.value;
    return false;
  }
  if (listContains(pair.value, "None")) {
    authMethod_ = "None";
    appendTextPair(reply, "AuthMethod", "None");
    return true;
  }
  appendTextPair(reply, "AuthMethod", "Reject");
  *status = login_status::kAuthenticationFailure;
  *reason = "no acceptable AuthMethod in " + pair.value;
  return false;
}

bool LoginNegotiator::negotiateChap(const std::vector<TextPair>& pairs, std::vector<uint8_t>& reply,
                                    LoginStatus* status, std::string* reason) {
  const TextPair *algorithm = nullptr, *name = nullptr, *response = nullptr, *identifier = nullptr,
                 *challenge = nullptr;
  for (const auto& pair : pairs) {
    if (pair.key == "CHAP_A") algorithm = &pair;
    else if (pair.key == "CHAP_N") name = &pair;
    else if (pair.key == "CHAP_R") response = &pair;
    else if (pair.key == "CHAP_I") identifier = &pair;
    else if (pair.key == "CHAP_C") challenge = &pair;
  }
  if (!algorithm && !name && !response && !identifier && !challenge) return true;
  *status = login_status::kAuthenticationFailure;
  if (authMethod_ != "CHAP") {
    *reason = "CHAP keys without AuthMethod=CHAP";
    return false;
  }
  if (chapState_ == ChapState::kAwaitingAlgorithm) {
    if (!algorithm || name || response || identifier || challenge) {
      *reason = "expected CHAP_A alone";
      return false;
    }
    if (!listContains(algorithm->value, std::to_string(kChapAlgorithmMd5))) {
      appendTextPair(reply, "CHAP_A", "Reject");
      *reason = "initiator offers no MD5 CHAP (CHAP_A=" + algorithm->value + ")";
      return false;
    }
    uint8_t randomBytes[1 + kChapChallengeBytes];
    if (!randomSource_(randomBytes, sizeof randomBytes)) {
      *status = login_status::kTargetError;
      *reason = "no random bytes for the CHAP challenge";
      return false;
    }
    chapIdentifier_ = randomBytes[0];
    chapChallenge_.assign(randomBytes + 1, randomBytes + 1 + kChapChallengeBytes);
    appendTextPair(reply, "CHAP_A", std::to_string(kChapAlgorithmMd5));
    appendTextPair(reply, "CHAP_I", std::to_string(chapIdentifier_));
    appendTextPair(reply, "CHAP_C", "0x" + common::toHex(chapChallenge_.data(), chapChallenge_.size()));
    chapState_ = ChapState::kAwaitingResponse;
    return true;
  }
  if (chapState_ != ChapState::kAwaitingResponse) {
    *reason = "unexpected CHAP keys";
    return false;
  }
  if (algorithm || !name || !response) {
    *status = algorithm ? login_status::kAuthenticationFailure : login_status::kMissingParameter;
    *reason = "expected CHAP_N and CHAP_R";
    return false;
  }
  const ChapSecret& expected = *target_->chap;
  auto received = parseBinary(response->value, 64);
  auto wanted = chapResponse(chapIdentifier_, expected.secret, chapChallenge_);
  if (!wanted) {
    *reason = "CHAP: MD5 is not available from libcrypto";
    return false;
  }
  if (name->value != expected.user || !received || received->size() != wanted->size() ||
      !constantTimeEqual(received->data(), wanted->data(), wanted->size())) {
    *reason = "CHAP response does not match for user " + name->value;
    return false;
  }
  if ((identifier == nullptr) != (challenge == nullptr)) {
    *reason = "mutual CHAP needs both CHAP_I and CHAP_C";
    return false;
  }
  if (identifier) {  // mutual CHAP: the initiator authenticates us (12.1.3)
    if (!target_->mutualChap) {
      *reason = "initiator asks for mutual CHAP, none configured";
      return false;
    }
    auto id = numberInRange(identifier->value, 0, 255);
    auto theirChallenge = parseBinary(challenge->value, kMaxInitiatorChallengeBytes);
    if (!id || !theirChallenge) {
      *reason = "malformed CHAP_I/CHAP_C";
      return false;
    }
    // 12.1.3: a target must not answer a challenge equal to the one it sent (reflection).
    if (*theirChallenge == chapChallenge_) {
      *reason = "reflected CHAP challenge";
      return false;
    }
    auto ours = chapResponse(uint8_t(*id), target_->mutualChap->secret, *theirChallenge);
    if (!ours) {
      *reason = "CHAP: MD5 is not available from libcrypto";
      return false;
    }
    appendTextPair(reply, "CHAP_N", target_->mutualChap->user);
    appendTextPair(reply, "CHAP_R", "0x" + common::toHex(ours->data(), ours->size()));
  }
  chapState_ = ChapState::kDone;
  return true;
}

void LoginNegotiator::negotiateOperationalKey(const TextPair& pair, std::vector<uint8_t>& reply) {
  const std::string& key = pair.key;
  const std::string& value = pair.value;
  auto answer = [&](const std::string& v) { appendTextPair(reply, key, v); };
  constexpr uint64_t kMaxSegment = 16777215;  // 2^24 - 1 (13.12-13.14)
  if (pair.valueTooLong) {
    answer("Reject");
    return;
  }
  // Declarative keys from the initiator: no answer (6.2.1).
  if (key == "InitiatorName" || key == "TargetName" || key == "SessionType" || key == "InitiatorAlias") return;
  if (key == "HeaderDigest" || key == "DataDigest") {
    // 13.1: we only implement None; a list without None cannot be agreed on.
    answer(listContains(value, "None") ? "None" : "Reject");
  } else if (key == "MaxConnections") {
    auto n = numberInRange(value, 1, 65535);
    if (n) parameters_.maxConnections = 1;
    answer(n ? "1" : "Reject");
  } else if (key == "InitialR2T") {
    auto b = parseBoolean(value);
    if (!b) return answer("Reject");
    parameters_.initialR2T = *b || limits_.initialR2T;  // OR (13.10)
    answer(yesNo(parameters_.initialR2T));
  } else if (key == "ImmediateData") {
    auto b = parseBoolean(value);
    if (!b) return answer("Reject");
    parameters_.immediateData = *b && limits_.immediateData;  // AND (13.11)
    answer(yesNo(parameters_.immediateData));
  } else if (key == "MaxRecvDataSegmentLength") {
    auto n = numberInRange(value, 512, kMaxSegment);
    if (!n) return answer("Reject");
    parameters_.initiatorMaxRecvDataSegmentLength = uint32_t(*n);  // declarative (13.12)
    if (!targetLimitsDeclared_) {
      targetLimitsDeclared_ = true;
      parameters_.targetMaxRecvDataSegmentLength = limits_.maxRecvDataSegmentLength;
      answer(std::to_string(limits_.maxRecvDataSegmentLength));
    }
  } else if (key == "MaxBurstLength") {
    auto n = numberInRange(value, 512, kMaxSegment);
    if (!n) return answer("Reject");
    parameters_.maxBurstLength = std::min(uint32_t(*n), limits_.maxBurstLength);  // min (13.13)
    answer(std::to_string(parameters_.maxBurstLength));
  } else if (key == "FirstBurstLength") {
    auto n = numberInRange(value, 512, kMaxSegment);
    if (!n) return answer("Reject");
    parameters_.firstBurstLength = std::min(uint32_t(*n), limits_.firstBurstLength);  // min (13.14)
    answer(std::to_string(parameters_.firstBurstLength));
  } else if (key == "DefaultTime2Wait") {
    auto n = numberInRange(value, 0, 3600);
    if (!n) return answer("Reject");
    parameters_.defaultTime2Wait = uint32_t(*n);  // max with our 0 (13.15)
    answer(std::to_string(*n));
  } else if (key == "DefaultTime2Retain") {
    auto n = numberInRange(value, 0, 3600);
    if (!n) return answer("Reject");
    parameters_.defaultTime2Retain = std::min(uint32_t(*n), limits_.defaultTime2Retain);  // min (13.16)
    answer(std::to_string(parameters_.defaultTime2Retain));
  } else if (key == "MaxOutstandingR2T") {
    auto n = numberInRange(value, 1, 65535);
    if (!n) return answer("Reject");
    parameters_.maxOutstandingR2T = std::min(uint32_t(*n), limits_.maxOutstandingR2T);  // min (13.17)
    answer(std::to_string(parameters_.maxOutstandingR2T));
  } else if (key == "DataPDUInOrder" || key == "DataSequenceInOrder") {
    auto b = parseBoolean(value);
    if (!b) return answer("Reject");
    answer("Yes");  // OR with our Yes (13.18, 13.19): we only do in-order data
  } else if (key == "ErrorRecoveryLevel") {
    auto n = numberInRange(value, 0, 2);
    if (!n) return answer("Reject");
    parameters_.errorRecoveryLevel = 0;  // min with our 0 (13.20)
    answer("0");
  } else if (key == "IFMarker" || key == "OFMarker") {
    // RFC 3720 A.3.1 markers, removed by RFC 7143: AND with our No.
    auto b = parseBoolean(value);
    answer(b ? "No" : "Reject");
  } else if (key == "IFMarkInt" || key == "OFMarkInt") {
    answer("Irrelevant");  // markers are off
  } else if (key == "iSCSIProtocolLevel") {
    auto n = numberInRange(value, 0, 31);  // RFC 7144 2.1
    if (!n) return answer("Reject");
    answer(std::to_string(std::min<uint64_t>(*n, 1)));
  } else if (key == "TaskReporting") {
    answer("RFC3720");  // 13.23: no task reporting extensions
  } else if (key == "TargetAlias" || key == "TargetAddress" || key == "TargetPortalGroupTag" ||
             key == "SendTargets") {
    answer("Irrelevant");  // target-declared keys are not the initiator's to send in a login
  } else {
    answer("NotUnderstood");  // 6.2: unknown keys, including X- and X# extension keys
  }
}

LoginNegotiator::Step LoginNegotiator::handle(const InitiatorHeader& request, const uint8_t* data, size_t length) {
  // 11.12.4: version 0x00 is the only one defined.
  if (request.versionMin > 0) return fail(request, login_status::kUnsupportedVersion, "unsupported iSCSI version");
  if (request.currentStage != kSecurityNegotiation && request.currentStage != kOperationalNegotiation) {
    return fail(request, login_status::kInitiatorError, "invalid login stage");
  }
  if (!firstRequestSeen_ && pendingText_.empty()) {
    isid_ = request.isid;
    tsih_ = request.tsih;
    connectionId_ = request.connectionId;
    initialCmdSn_ = request.cmdSn;
  } else if (request.isid != isid_ || request.tsih != tsih_) {
    return fail(request, login_status::kInitiatorError, "ISID or TSIH changed during login");
  }
  if (expectedStage_ >= 0 && request.currentStage != expectedStage_) {
    return fail(request, login_status::kInitiatorError, "login stage out of order");
  }
  if (pendingText_.size() + length > kMaxTextBytes) {
    return fail(request, login_status::kOutOfResources, "login text too large");
  }
  pendingText_.insert(pendingText_.end(), data, data + length);
  if (request.continueFlag) {
    // 11.12.2: more text follows; answer with an empty response and the same stage.
    expectedStage_ = request.currentStage;
    return reply(request, {}, false);
  }
  std::vector<TextPair> pairs;
  TextError textError = parseTextPairs(pendingText_.data(), pendingText_.size(), &pairs);
  pendingText_.clear();
  if (textError != TextError::kNone) {
    return fail(request, login_status::kInitiatorError, std::string("malformed login text: ") + textErrorName(textError));
  }

  LoginStatus status = login_status::kInitiatorError;
  std::string reason;
  std::vector<uint8_t> out;
  if (!firstRequestSeen_) {
    firstRequestSeen_ = true;
    if (!handleFirstRequest(pairs, &status, &reason)) return fail(request, status, reason);
    if (tsih_ != 0) {
      // Adding a connection to an existing session: we negotiate MaxConnections=1 (13.2).
      return fail(request, login_status::kSessionDoesNotExist, "multiple connections per session not supported");
    }
    if (!discovery_) {
      // 13.9: the first Login Response of a Normal session carries the portal group tag.
      appendTextPair(out, "TargetPortalGroupTag", std::to_string(limits_.portalGroupTag));
    }
  } else {
    for (const auto& pair : pairs) {
      if ((pair.key == "InitiatorName" && pair.value != initiatorName_) ||
          (pair.key == "TargetName" && pair.value != targetName_)) {
        return fail(request, login_status::kInitiatorError, pair.key + " changed during login");
      }
    }
  }

  const bool chapRequired = !discovery_ && target_ && target_->chap.has_value();
  if (request.currentStage == kSecurityNegotiation) {
    for (const auto& pair : pairs) {
      if (!negotiateSecurityKey(pair, out, &status, &reason)) return fail(request, status, reason);
    }
    if (!negotiateChap(pairs, out, &status, &reason)) return fail(request, status, reason);
    for (const auto& pair : pairs) {
      if (!isSecurityKey(pair.key)) negotiateOperationalKey(pair, out);
    }
  } else {
    if (chapRequired && chapState_ != ChapState::kDone) {
      return fail(request, login_status::kAuthenticationFailure, "target requires CHAP; security stage skipped");
    }
    for (const auto& pair : pairs) {
      if (isSecurityKey(pair.key)) {
        return fail(request, login_status::kInitiatorError, pair.key + " outside the security stage");
      }
      negotiateOperationalKey(pair, out);
    }
    if (!targetLimitsDeclared_) {
      // 13.12: declare what we accept, so initiators may send more than 8 KiB per PDU.
      targetLimitsDeclared_ = true;
      parameters_.targetMaxRecvDataSegmentLength = limits_.maxRecvDataSegmentLength;
      appendTextPair(out, "MaxRecvDataSegmentLength", std::to_string(limits_.maxRecvDataSegmentLength));
    }
  }

  bool transit = false;
  if (request.transit) {
    if (request.currentStage == kSecurityNegotiation) {
      if (authenticationComplete()) {
        transit = true;
      } else if (authMethod_.empty() || chapState_ == ChapState::kNotStarted) {
        if (chapRequired && authMethod_.empty()) {
          return fail(request, login_status::kAuthenticationFailure, "target requires CHAP; none negotiated");
        }
      }
      // Otherwise CHAP is still in progress: answer without T (6.3: the target may refuse to transit).
    } else {
      transit = true;
    }
  }
  return reply(request, std::move(out), transit);
}

}  // namespace lanboot::iscsi
