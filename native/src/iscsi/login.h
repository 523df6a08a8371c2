// Login phase negotiation (RFC 7143 6.2-6.3, 12.1.3 CHAP, section 13 keys) as a pure state
// machine: a Login Request (decoded header + data segment) goes in, the Login Response to
// send comes out. Sessions, sockets and TSIH allocation are the caller's (connection.*).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "iscsi/pdu.h"
#include "iscsi/text.h"

namespace lanboot::iscsi {

struct ChapSecret {
  std::string user;
  std::string secret;
};

// What the login needs to know about a target, looked up by name for one initiator.
struct LoginTargetInfo {
  std::string iqn;
  bool initiatorAllowed = false;         // ACL (RFC 7143 11.13.5 status 0202 otherwise)
  std::optional<ChapSecret> chap;        // the initiator must prove this secret
  std::optional<ChapSecret> mutualChap;  // we prove this one when the initiator asks
};

class LoginDirectory {
 public:
  virtual ~LoginDirectory() = default;
  // nullopt = no such target (status 0203); initiatorAllowed applies the target's ACL.
  virtual std::optional<LoginTargetInfo> findTarget(const std::string& targetName,
                                                    const std::string& initiatorName) = 0;
};

// Session/connection parameters after negotiation, with RFC 7143 section 13 defaults.
struct SessionParameters {
  uint32_t initiatorMaxRecvDataSegmentLength = 8192;  // limit on PDUs we send (13.12)
  uint32_t targetMaxRecvDataSegmentLength = 8192;     // limit on PDUs we receive
  uint32_t maxBurstLength = 262144;                   // 13.13
  uint32_t firstBurstLength = 65536;                  // 13.14
  bool initialR2T = true;                             // 13.10
  bool immediateData = true;                          // 13.11
  uint32_t maxOutstandingR2T = 1;                     // 13.17
  bool dataPduInOrder = true;                         // 13.18
  bool dataSequenceInOrder = true;                    // 13.19
  uint32_t errorRecoveryLevel = 0;                    // 13.20
  uint32_t defaultTime2Wait = 2;                      // 13.15
  uint32_t defaultTime2Retain = 20;                   // 13.16
  uint32_t maxConnections = 1;                        // 13.2
};

// What this target is willing to do; the negotiation result never exceeds these.
struct TargetLimits {
  uint32_t maxRecvDataSegmentLength = 262144;
  uint32_t maxBurstLength = 16776192;
  uint32_t firstBurstLength = 16776192;
  uint32_t maxOutstandingR2T = 1;
  bool initialR2T = false;      // OR-function: we do not insist on R2T before data
  bool immediateData = true;    // AND-function
  uint32_t defaultTime2Retain = 0;  // ERL 0 only: nothing to retain
  uint16_t portalGroupTag = 1;
};

// Login status (RFC 7143 11.13.5).
struct LoginStatus {
  uint8_t statusClass = 0;
  uint8_t statusDetail = 0;
};
namespace login_status {
constexpr LoginStatus kSuccess{0x00, 0x00};
constexpr LoginStatus kInitiatorError{0x02, 0x00};
constexpr LoginStatus kAuthenticationFailure{0x02, 0x01};
constexpr LoginStatus kAuthorizationFailure{0x02, 0x02};
constexpr LoginStatus kNotFound{0x02, 0x03};
constexpr LoginStatus kUnsupportedVersion{0x02, 0x05};
constexpr LoginStatus kTooManyConnections{0x02, 0x06};
constexpr LoginStatus kMissingParameter{0x02, 0x07};
constexpr LoginStatus kSessionTypeNotSupported{0x02, 0x09};
constexpr LoginStatus kSessionDoesNotExist{0x02, 0x0a};
constexpr LoginStatus kInvalidDuringLogin{0x02, 0x0b};
constexpr LoginStatus kTargetError{0x03, 0x00};
constexpr LoginStatus kOutOfResources{0x03, 0x02};
}  // namespace login_status

class LoginNegotiator {
 public:
  enum class Outcome {
    kContinue,     // send the response, wait for the next Login Request
    kFullFeature,  // send the response (after the caller sets the TSIH): login done
    kFailed,       // send the response (status != 0), then close the connection
  };
  struct Step {
    Outcome outcome = Outcome::kContinue;
    LoginResponseFields response;
    std::vector<uint8_t> data;
    std::string failureReason;  // for logs/events when kFailed
  };

  // randomSource fills a buffer with unpredictable bytes (getrandom in production).
  LoginNegotiator(LoginDirectory& directory, TargetLimits limits,
                  std::function<bool(uint8_t*, size_t)> randomSource);

  Step handle(const InitiatorHeader& request, const uint8_t* data, size_t length);

  const std::string& initiatorName() const { return initiatorName_; }
  const std::string& targetName() const { return targetName_; }
  bool discovery() const { return discovery_; }
  const std::array<uint8_t, 6>& isid() const { return isid_; }
  uint16_t requestedTsih() const { return tsih_; }
  uint16_t connectionId() const { return connectionId_; }
  uint32_t initialCmdSn() const { return initialCmdSn_; }
  const SessionParameters& parameters() const { return parameters_; }
  const std::optional<LoginTargetInfo>& target() const { return target_; }

 private:
  enum class ChapState { kNotStarted, kAwaitingAlgorithm, kAwaitingResponse, kDone };

  Step fail(const InitiatorHeader& request, LoginStatus status, std::string reason);
  Step reply(const InitiatorHeader& request, std::vector<uint8_t> data, bool transit);
  bool handleFirstRequest(const std::vector<TextPair>& pairs, LoginStatus* status, std::string* reason);
  bool negotiateSecurityKey(const TextPair& pair, std::vector<uint8_t>& reply, LoginStatus* status,
                            std::string* reason);
  bool negotiateChap(const std::vector<TextPair>& pairs, std::vector<uint8_t>& reply, LoginStatus* status,
                     std::string* reason);
  void negotiateOperationalKey(const TextPair& pair, std::vector<uint8_t>& reply);
  bool authenticationComplete() const;

  LoginDirectory& directory_;
  TargetLimits limits_;
  std::function<bool(uint8_t*, size_t)> randomSource_;

  bool firstRequestSeen_ = false;
  int expectedStage_ = -1;  // -1: the first request may start in either negotiation stage
  std::vector<uint8_t> pendingText_;  // C-bit continuation (6.3 / 11.12.2)
  std::string initiatorName_;
  std::string targetName_;
  bool discovery_ = false;
  std::array<uint8_t, 6> isid_{};
  uint16_t tsih_ = 0;
  uint16_t connectionId_ = 0;
  uint32_t initialCmdSn_ = 0;
  std::optional<LoginTargetInfo> target_;
  SessionParameters parameters_;
  bool targetLimitsDeclared_ = false;
  std::string authMethod_;  // "", "None", "CHAP"
  ChapState chapState_ = ChapState::kNotStarted;
  uint8_t chapIdentifier_ = 0;
  std::vector<uint8_t> chapChallenge_;
};

}  // namespace lanboot::iscsi
