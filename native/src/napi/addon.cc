// Node-API glue: exposes exactly the NativeAddon interface of src/native/index.ts.
// Only this directory includes Node headers. The engine runs on its own threads; events
// reach JS through a ThreadSafeFunction. Every engine of an environment is stopped by an
// environment cleanup hook so that process exit neither hangs nor crashes.
#include <napi.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

#include "common/byte_order.h"
#include "common/hex.h"
#include "cow/export.h"
#include "cow/fault_report.h"
#include "cow/store.h"
#include "image/verified_copy.h"
#include "iscsi/engine.h"
#include "scsi/lun.h"
#include "system/sd_notify.h"
#include "system/prewarm.h"
#include "system/sendfile_reactor.h"
#include "system/udp_socket.h"

namespace {

using lanboot::iscsi::EngineEvent;

[[noreturn]] void throwWithCode(Napi::Env env, const std::string& message, const char* code, bool typeError = false) {
  Napi::Error error = typeError ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

class IscsiEngineWrap;

// Completion of one sendFileRange transfer, carried from a reactor thread to JS.
struct SendfileResult {
  Napi::Promise::Deferred* deferred;
  int error;
  uint64_t sent;
};

// Per-environment state (one per main thread or worker).
struct AddonState {
  Napi::FunctionReference engineConstructor;
  std::set<IscsiEngineWrap*> engines;
  // Made on the first sendFileRange call.
  std::unique_ptr<lanboot::system::SendfileReactor> sendfile;
  Napi::ThreadSafeFunction sendfileDone;
};

// sink: where a write refused for lack of space (an "error" event with code LANBOOT_NO_SPACE
// naming the target) and a failing read, write or flush of the seat's files (code
// LANBOOT_DISK_FAULT) are reported, rate limited by FaultReportingStore.
lanboot::iscsi::TargetBacking openBacking(const lanboot::iscsi::TargetSettings& settings, std::string* error,
                                          const std::function<void(const EngineEvent&)>& sink) {
  lanboot::scsi::CowStoreOptions options;
  options.goldenPath = settings.goldenPath;
  options.deltaDir = settings.deltaDir;
  options.sizeBytes = settings.sizeBytes;
  options.quotaBytes = settings.quotaBytes;
  options.readOnly = settings.readOnly;
  auto opened = lanboot::scsi::CowStore::open(options, error);
  if (!opened) return {};
  const std::string iqn = settings.iqn;
  auto store = std::make_shared<lanboot::scsi::FaultReportingStore>(
      opened, settings.quotaBytes, [sink, iqn](const lanboot::scsi::FaultReportingStore::Fault& fault) {
        EngineEvent event;
        event.type = EngineEvent::Type::kError;
        event.targetIqn = iqn;
        // reason: quota / disk-full for space, the failed operation (read, write, flush) for a fault.
        event.reason = fault.reason == "io-error" ? fault.operation : fault.reason;
        const std::string used = std::to_string(fault.deltaBytes);
        if (fault.reason == "io-error") {
          event.code = "LANBOOT_DISK_FAULT";
          event.message = "a " + fault.operation + " of the seat's disk files failed: " + std::strerror(fault.error) +
                          " (the PC got MEDIUM ERROR)";
        } else {
          event.code = "LANBOOT_NO_SPACE";
          event.message = fault.reason == "quota" ? "write refused: the seat's delta reached its quota (" + used + " of " +
                                                        std::to_string(fault.quotaBytes) + " bytes)"
                                                  : "write refused: the data disk is full (delta " + used + " bytes)";
        }
        if (sink) sink(event);
      });
  lanboot::scsi::DiskIdentity identity;
  identity.serial = settings.serial;
  identity.naa = settings.naa;
  identity.targetName = settings.iqn;
  auto lun = lanboot::scsi::makeDiskLun(store, identity);
  return lanboot::iscsi::TargetBacking{lun, store};
}

Napi::Object eventToJs(Napi::Env env, const EngineEvent& event) {
  Napi::Object object = Napi::Object::New(env);
  switch (event.type) {
    case EngineEvent::Type::kLogin:
      object.Set("type", "login");
      object.Set("targetIqn", event.targetIqn);
      object.Set("initiatorIqn", event.initiatorIqn);
      object.Set("isid", event.isid);
      object.Set("tsih", Napi::Number::New(env, event.tsih));
      object.Set("remoteAddress", event.remoteAddress);
      object.Set("discovery", Napi::Boolean::New(env, event.discovery));
      break;
    case EngineEvent::Type::kLogout:
      object.Set("type", "logout");
      object.Set("targetIqn", event.targetIqn);
      object.Set("initiatorIqn", event.initiatorIqn);
      object.Set("isid", event.isid);
      object.Set("tsih", Napi::Number::New(env, event.tsih));
      object.Set("reason", event.reason);
      break;
    case EngineEvent::Type::kLoginFailed:
      object.Set("type", "login-failed");
      object.Set("targetIqn", event.targetIqn);
      object.Set("initiatorIqn", event.initiatorIqn);
      object.Set("remoteAddress", event.remoteAddress);
      object.Set("reason", event.reason);
      break;
    case EngineEvent::Type::kError:
      object.Set("type", "error");
      object.Set("targetIqn", event.targetIqn);
      object.Set("initiatorIqn", event.initiatorIqn);
      object.Set("message", event.message);
      object.Set("code", event.code);
      if (!event.reason.empty()) object.Set("reason", event.reason);
      break;
    case EngineEvent::Type::kFreshStart:
      object.Set("type", "fresh-start");
      object.Set("targetIqn", event.targetIqn);
      object.Set("initiatorIqn", event.initiatorIqn);
      object.Set("remoteAddress", event.remoteAddress);
      object.Set("reset", Napi::Boolean::New(env, event.reset));
      object.Set("endedSessions", Napi::Number::New(env, event.endedSessions));
      object.Set("reason", event.reason);
      break;
  }
  return object;
}

class IscsiEngineWrap : public Napi::ObjectWrap<IscsiEngineWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "IscsiEngine",
                       {InstanceMethod<&IscsiEngineWrap::listen>("listen"),
                        InstanceMethod<&IscsiEngineWrap::setTarget>("setTarget"),
                        InstanceMethod<&IscsiEngineWrap::removeTarget>("removeTarget"),
                        InstanceMethod<&IscsiEngineWrap::resetDisk>("resetDisk"),
                        InstanceMethod<&IscsiEngineWrap::armFreshStart>("armFreshStart"),
                        InstanceMethod<&IscsiEngineWrap::disarmFreshStart>("disarmFreshStart"),
                        InstanceMethod<&IscsiEngineWrap::deltaBytes>("deltaBytes"),
                        InstanceMethod<&IscsiEngineWrap::readDisk>("readDisk"),
                        InstanceMethod<&IscsiEngineWrap::sessions>("sessions"),
                        InstanceMethod<&IscsiEngineWrap::setCommandTrace>("setCommandTrace"),
                        InstanceMethod<&IscsiEngineWrap::commandTraceOn>("commandTraceOn"),
                        InstanceMethod<&IscsiEngineWrap::close>("close")});
  }

  explicit IscsiEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IscsiEngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throwWithCode(env, "IscsiEngine(onEvent): onEvent must be a function", "LANBOOT_INVALID_ARGUMENT", true);
    }
    events_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "lanboot-iscsi-events", 0, 1);
    // Events must not keep the process alive on their own; the supervisor's servers do.
    events_.Unref(env);
    Napi::ThreadSafeFunction events = events_;
    auto sink = [events](const EngineEvent& event) mutable {
      auto* copy = new EngineEvent(event);
      napi_status status = events.NonBlockingCall(copy, [](Napi::Env callEnv, Napi::Function callback, EngineEvent* data) {
        std::unique_ptr<EngineEvent> owned(data);
        if (callEnv == nullptr || callback.IsEmpty()) return;
        try {
          callback.Call({eventToJs(callEnv, *owned)});
        } catch (const Napi::Error& error) {
          // An exception in onEvent is the caller's bug: surface it as uncaught, do not crash.
          error.ThrowAsJavaScriptException();
        }
      });
      if (status != napi_ok) delete copy;
    };
    engine_ = std::make_unique<lanboot::iscsi::Engine>(
        [sink](const lanboot::iscsi::TargetSettings& settings, std::string* error) { return openBacking(settings, error, sink); },
        sink);
    state_ = env.GetInstanceData<AddonState>();
    if (state_) state_->engines.insert(this);
  }

  ~IscsiEngineWrap() override {
    if (state_) state_->engines.erase(this);
    shutdown();
  }

  // Stops every engine thread, then releases the event function. Idempotent.
  void shutdown() {
    if (engine_) engine_->close();
    if (!released_) {
      released_ = true;
      events_.Release();
    }
  }
  void detachState() { state_ = nullptr; }

 private:
  Napi::Value listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
      throwWithCode(env, "listen(host, port): host string and port number required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    double port = info[1].As<Napi::Number>().DoubleValue();
    if (!(port >= 0 && port <= 65535) || port != double(int(port))) {
      throwWithCode(env, "listen: port must be an integer 0..65535", "LANBOOT_INVALID_ARGUMENT", true);
    }
    std::string error;
    int bound = engine_->listen(info[0].As<Napi::String>().Utf8Value(), uint16_t(port), &error);
    if (bound < 0) throwWithCode(env, error, "LANBOOT_ISCSI_BIND");
    return Napi::Number::New(env, bound);
  }

  static std::string requireString(Napi::Env env, Napi::Object object, const char* key, bool optional = false) {
    Napi::Value value = object.Get(key);
    if (value.IsUndefined() && optional) return "";
    if (!value.IsString()) {
      throwWithCode(env, std::string("target config: ") + key + " must be a string", "LANBOOT_INVALID_TARGET", true);
    }
    return value.As<Napi::String>().Utf8Value();
  }

  static uint64_t optionalSize(Napi::Env env, Napi::Object object, const char* key) {
    Napi::Value value = object.Get(key);
    if (value.IsUndefined() || value.IsNull()) return 0;
    if (!value.IsNumber()) {
      throwWithCode(env, std::string("target config: ") + key + " must be a number", "LANBOOT_INVALID_TARGET", true);
    }
    double number = value.As<Napi::Number>().DoubleValue();
    if (!(number >= 0) || number > 9007199254740991.0 || number != double(uint64_t(number))) {
      throwWithCode(env, std::string("target config: ") + key + " must be a non-negative integer",
                    "LANBOOT_INVALID_TARGET", true);
    }
    return uint64_t(number);
  }

  static std::optional<lanboot::iscsi::ChapSecret> optionalChap(Napi::Env env, Napi::Object object, const char* key) {
    Napi::Value value = object.Get(key);
    if (value.IsUndefined() || value.IsNull()) return std::nullopt;
    if (!value.IsObject()) {
      throwWithCode(env, std::string("target config: ") + key + " must be {user, secret}", "LANBOOT_INVALID_TARGET",
                    true);
    }
    Napi::Object chap = value.As<Napi::Object>();
    lanboot::iscsi::ChapSecret secret{requireString(env, chap, "user"), requireString(env, chap, "secret")};
    // RFC 7143 12.1.3: CHAP_N and the secret are text; keep them within the 255-byte value limit.
    if (secret.user.empty() || secret.user.size() > 255 || secret.secret.empty() || secret.secret.size() > 255) {
      throwWithCode(env, std::string("target config: ") + key + " user/secret must be 1..255 bytes",
                    "LANBOOT_INVALID_TARGET", true);
    }
    return secret;
  }

  Napi::Value setTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throwWithCode(env, "setTarget(config): config object required", "LANBOOT_INVALID_TARGET", true);
    }
    Napi::Object config = info[0].As<Napi::Object>();
    lanboot::iscsi::TargetSettings settings;
    settings.iqn = requireString(env, config, "iqn");
    settings.goldenPath = requireString(env, config, "goldenPath");
    settings.deltaDir = requireString(env, config, "deltaDir");
    settings.sizeBytes = optionalSize(env, config, "sizeBytes");
    settings.quotaBytes = optionalSize(env, config, "quotaBytes");
    Napi::Value initiators = config.Get("initiators");
    if (!initiators.IsArray()) throwWithCode(env, "target config: initiators must be an array", "LANBOOT_INVALID_TARGET", true);
    Napi::Array list = initiators.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value item = list.Get(i);
      if (!item.IsString()) {
        throwWithCode(env, "target config: initiators must be strings", "LANBOOT_INVALID_TARGET", true);
      }
      settings.initiators.push_back(item.As<Napi::String>().Utf8Value());
    }
    settings.chap = optionalChap(env, config, "chap");
    settings.mutualChap = optionalChap(env, config, "mutualChap");
    if (settings.mutualChap && !settings.chap) {
      throwWithCode(env, "target config: mutualChap needs chap", "LANBOOT_INVALID_TARGET", true);
    }
    settings.serial = requireString(env, config, "serial");
    const std::string naaHex = requireString(env, config, "naaHex");
    auto naaBytes = lanboot::common::fromHex(naaHex, 8);
    if (naaHex.size() != 16 || !naaBytes || naaBytes->size() != 8) {  // "0x" + 14 digits is 7 bytes
      throwWithCode(env, "target config: naaHex must be 16 hex digits", "LANBOOT_INVALID_TARGET", true);
    }
    settings.naa = lanboot::common::loadBe64(naaBytes->data());
    Napi::Value readOnly = config.Get("readOnly");
    settings.readOnly = readOnly.IsBoolean() && readOnly.As<Napi::Boolean>().Value();
    Napi::Value luns = config.Get("luns");
    if (!luns.IsUndefined() && !luns.IsNull()) {
      if (!luns.IsArray() || luns.As<Napi::Array>().Length() > lanboot::iscsi::kMaxLun) {
        throwWithCode(env, "target config: luns must be an array of at most 15 LUNs", "LANBOOT_INVALID_TARGET", true);
      }
      Napi::Array lunList = luns.As<Napi::Array>();
      for (uint32_t i = 0; i < lunList.Length(); ++i) {
        Napi::Value item = lunList.Get(i);
        if (!item.IsObject()) throwWithCode(env, "target config: each LUN must be an object", "LANBOOT_INVALID_TARGET", true);
        Napi::Object lunConfig = item.As<Napi::Object>();
        lanboot::iscsi::LunSettings lun;
        Napi::Value number = lunConfig.Get("lun");
        const double n = number.IsNumber() ? number.As<Napi::Number>().DoubleValue() : -1;
        if (!(n >= 1 && n <= lanboot::iscsi::kMaxLun) || n != static_cast<double>(static_cast<uint32_t>(n))) {
          throwWithCode(env, "target config: lun must be a number 1-15", "LANBOOT_INVALID_TARGET", true);
        }
        lun.lun = static_cast<uint32_t>(n);
        lun.goldenPath = requireString(env, lunConfig, "goldenPath");
        lun.deltaDir = requireString(env, lunConfig, "deltaDir");
        lun.sizeBytes = optionalSize(env, lunConfig, "sizeBytes");
        lun.quotaBytes = optionalSize(env, lunConfig, "quotaBytes");
        lun.serial = requireString(env, lunConfig, "serial");
        const std::string lunNaaHex = requireString(env, lunConfig, "naaHex");
        auto lunNaa = lanboot::common::fromHex(lunNaaHex, 8);
        if (lunNaaHex.size() != 16 || !lunNaa || lunNaa->size() != 8) {
          throwWithCode(env, "target config: naaHex of a LUN must be 16 hex digits", "LANBOOT_INVALID_TARGET", true);
        }
        lun.naa = lanboot::common::loadBe64(lunNaa->data());
        Napi::Value lunReadOnly = lunConfig.Get("readOnly");
        lun.readOnly = lunReadOnly.IsBoolean() && lunReadOnly.As<Napi::Boolean>().Value();
        Napi::Value resetWithTarget = lunConfig.Get("resetWithTarget");
        if (!resetWithTarget.IsBoolean()) {
          throwWithCode(env, "target config: resetWithTarget of a LUN must be true or false", "LANBOOT_INVALID_TARGET", true);
        }
        lun.resetWithTarget = resetWithTarget.As<Napi::Boolean>().Value();
        settings.extraLuns.push_back(std::move(lun));
      }
    }
    std::string error;
    if (!engine_->setTarget(settings, &error)) throwWithCode(env, error, "LANBOOT_TARGET_OPEN");
    return env.Undefined();
  }

  Napi::Value removeTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "removeTarget(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    engine_->removeTarget(info[0].As<Napi::String>().Utf8Value());
    return env.Undefined();
  }

  Napi::Value resetDisk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "resetDisk(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    std::string error;
    if (!engine_->resetDisk(info[0].As<Napi::String>().Utf8Value(), &error)) {
      throwWithCode(env, error, "LANBOOT_TARGET_RESET");
    }
    return env.Undefined();
  }

  Napi::Value armFreshStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "armFreshStart(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    std::string error;
    if (!engine_->armFreshStart(info[0].As<Napi::String>().Utf8Value(), &error)) {
      throwWithCode(env, error, "LANBOOT_TARGET_UNKNOWN");
    }
    return env.Undefined();
  }

  Napi::Value disarmFreshStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "disarmFreshStart(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    engine_->disarmFreshStart(info[0].As<Napi::String>().Utf8Value());
    return env.Undefined();
  }

  Napi::Value deltaBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "deltaBytes(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    const std::string iqn = info[0].As<Napi::String>().Utf8Value();
    int64_t bytes = engine_->deltaBytes(iqn);
    if (bytes < 0) throwWithCode(env, "no target " + iqn, "LANBOOT_TARGET_UNKNOWN");
    return Napi::Number::New(env, double(bytes));
  }

  // A few sectors of a target's disk (the supervisor looks at sector 0 to tell a blank
  // install disk from one an installer made bootable). Small reads only: it runs on the
  // JS thread.
  Napi::Value readDisk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr double kMaxRead = 64 * 1024;
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
      throwWithCode(env, "readDisk(iqn, offset, length): iqn string and two numbers required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    const std::string iqn = info[0].As<Napi::String>().Utf8Value();
    double offset = info[1].As<Napi::Number>().DoubleValue();
    double length = info[2].As<Napi::Number>().DoubleValue();
    if (!(offset >= 0) || offset > 9007199254740991.0 || offset != double(uint64_t(offset)) || !(length >= 0) || length > kMaxRead ||
        length != double(uint64_t(length))) {
      throwWithCode(env, "readDisk: offset must be a whole number and length at most 64 KiB", "LANBOOT_INVALID_ARGUMENT", true);
    }
    auto buffer = Napi::Buffer<uint8_t>::New(env, size_t(length));
    int rc = engine_->readDisk(iqn, uint64_t(offset), uint64_t(length), buffer.Data());
    if (rc == -ENOENT) throwWithCode(env, "no target " + iqn, "LANBOOT_TARGET_UNKNOWN");
    if (rc != 0) throwWithCode(env, "readDisk of " + iqn + " failed: " + strerror(-rc), "LANBOOT_ENGINE_FAILED");
    return buffer;
  }

  // setCommandTrace(iqn, path | null): starts appending the target's READ/WRITE commands to
  // path (scsi/command_trace.h), or stops with null.
  Napi::Value setCommandTrace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !(info[1].IsString() || info[1].IsNull())) {
      throwWithCode(env, "setCommandTrace(iqn, path | null): iqn string and a path string or null required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    const std::string iqn = info[0].As<Napi::String>().Utf8Value();
    const std::string path = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
    if (info[1].IsString() && path.empty()) throwWithCode(env, "setCommandTrace: path must not be empty", "LANBOOT_INVALID_ARGUMENT", true);
    std::string error;
    if (!engine_->setCommandTrace(iqn, path, &error)) {
      throwWithCode(env, error, error.rfind("no target ", 0) == 0 ? "LANBOOT_TARGET_UNKNOWN" : "LANBOOT_IO_FAILED");
    }
    return env.Undefined();
  }

  Napi::Value commandTraceOn(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throwWithCode(env, "commandTraceOn(iqn): iqn string required", "LANBOOT_INVALID_ARGUMENT", true);
    }
    return Napi::Boolean::New(env, engine_->commandTraceOn(info[0].As<Napi::String>().Utf8Value()));
  }

  Napi::Value sessions(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto snapshots = engine_->sessions();
    Napi::Array out = Napi::Array::New(env, snapshots.size());
    for (size_t i = 0; i < snapshots.size(); ++i) {
      const auto& s = snapshots[i];
      Napi::Object object = Napi::Object::New(env);
      object.Set("targetIqn", s.targetIqn);
      object.Set("initiatorIqn", s.initiatorIqn);
      object.Set("isid", s.isid);
      object.Set("tsih", Napi::Number::New(env, s.tsih));
      object.Set("remoteAddress", s.remoteAddress);
      object.Set("remotePort", Napi::Number::New(env, s.remotePort));
      object.Set("connectedAt", Napi::Number::New(env, double(s.connectedAtMs)));
      object.Set("commands", Napi::Number::New(env, double(s.commands)));
      object.Set("bytesRead", Napi::Number::New(env, double(s.bytesRead)));
      object.Set("bytesWritten", Napi::Number::New(env, double(s.bytesWritten)));
      object.Set("meanLatencyUs", Napi::Number::New(env, s.meanLatencyUs));
      out.Set(uint32_t(i), object);
    }
    return out;
  }

  Napi::Value close(const Napi::CallbackInfo& info) {
    shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<lanboot::iscsi::Engine> engine_;
  Napi::ThreadSafeFunction events_;
  bool released_ = false;
  AddonState* state_ = nullptr;
};

Napi::Value sdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throwWithCode(env, "sdNotify(state): state string required", "LANBOOT_INVALID_ARGUMENT", true);
  }
  const char* socketPath = std::getenv("NOTIFY_SOCKET");
  std::string error;
  auto result = lanboot::system::sendNotify(socketPath ? socketPath : "", info[0].As<Napi::String>().Utf8Value(), &error);
  if (result == lanboot::system::NotifyResult::kFailed) throwWithCode(env, error, "LANBOOT_SD_NOTIFY");
  return Napi::Boolean::New(env, result == lanboot::system::NotifyResult::kSent);
}

Napi::Value openInterfaceUdpSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throwWithCode(env, "openInterfaceUdpSocket(ifname, port): string and number required", "LANBOOT_INVALID_ARGUMENT",
                  true);
  }
  double port = info[1].As<Napi::Number>().DoubleValue();
  if (!(port >= 0 && port <= 65535) || port != double(int(port))) {
    throwWithCode(env, "openInterfaceUdpSocket: port must be an integer 0..65535", "LANBOOT_INVALID_ARGUMENT", true);
  }
  std::string error;
  int fd = lanboot::system::openInterfaceUdpSocket(info[0].As<Napi::String>().Utf8Value(), uint16_t(port), &error);
  if (fd < 0) throwWithCode(env, error, "LANBOOT_UDP_SOCKET");
  return Napi::Number::New(env, fd);
}

// A worker whose result is a promise: Execute() runs on a libuv worker thread (the JS
// thread never blocks on the copy) and fails with fail(code, message); the promise is then
// rejected with an Error carrying that code. Base is Napi::AsyncWorker or
// Napi::AsyncProgressWorker<T> (progress coalesced: only the latest figure matters).
template <typename Base>
class PromiseWorker : public Base {
 public:
  PromiseWorker(Napi::Env env, const char* resourceName)
      : Base(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void fail(const char* code, const std::string& message) {
    code_ = code;
    this->SetError(message);
  }
  void OnError(const Napi::Error& error) override {
    Napi::Error copy = Napi::Error::New(this->Env(), error.Message());
    copy.Set("code", Napi::String::New(this->Env(), code_));
    deferred_.Reject(copy.Value());
  }

  Napi::Promise::Deferred deferred_;

 private:
  std::string code_;
};

// Calls a JS progress callback (if any) with the latest byte count.
class ProgressCallback {
 public:
  explicit ProgressCallback(const Napi::Value& value) {
    if (value.IsFunction()) callback_ = Napi::Persistent(value.As<Napi::Function>());
  }
  void call(Napi::Env env, const uint64_t* data, size_t count) {
    if (callback_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(env);
    callback_.Call({Napi::Number::New(env, double(data[count - 1]))});
  }

 private:
  Napi::FunctionReference callback_;
};

bool isSafeInteger(const Napi::Value& value, uint64_t* out) {
  if (!value.IsNumber()) return false;
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > 9007199254740991.0 || number != double(uint64_t(number))) return false;
  *out = uint64_t(number);
  return true;
}

// exportDisk({goldenPath, deltaDir, sizeBytes}, destPath, onProgress?): Promise<void>.
class ExportDiskWorker : public PromiseWorker<Napi::AsyncProgressWorker<uint64_t>> {
 public:
  ExportDiskWorker(Napi::Env env, lanboot::scsi::CowStoreOptions options, std::string destPath, const Napi::Value& onProgress)
      : PromiseWorker(env, "lanboot-export-disk"), options_(std::move(options)), destPath_(std::move(destPath)), progress_(onProgress) {}

 protected:
  void Execute(const ExecutionProgress& progress) override {
    std::string error;
    int rc = lanboot::scsi::exportDisk(options_, destPath_, [&](uint64_t done) { progress.Send(&done, 1); }, &error);
    if (rc != 0) {
      fail(rc == -ENOSPC ? "LANBOOT_NO_SPACE" : rc == -EBUSY ? "LANBOOT_DELTA_BUSY" : "LANBOOT_EXPORT_FAILED",
           error.empty() ? std::string("export failed: ") + std::strerror(-rc) : error);
    }
  }
  void OnProgress(const uint64_t* data, size_t count) override { progress_.call(Env(), data, count); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

 private:
  lanboot::scsi::CowStoreOptions options_;
  std::string destPath_;
  ProgressCallback progress_;
};

Napi::Value exportDisk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsString()) {
    throwWithCode(env, "exportDisk(disk, destPath, onProgress?): disk object and destPath string required",
                  "LANBOOT_INVALID_ARGUMENT", true);
  }
  Napi::Object disk = info[0].As<Napi::Object>();
  lanboot::scsi::CowStoreOptions options;
  Napi::Value golden = disk.Get("goldenPath");
  Napi::Value delta = disk.Get("deltaDir");
  if (!golden.IsString() || !delta.IsString()) {
    throwWithCode(env, "exportDisk: disk.goldenPath and disk.deltaDir must be strings", "LANBOOT_INVALID_ARGUMENT", true);
  }
  options.goldenPath = golden.As<Napi::String>().Utf8Value();
  options.deltaDir = delta.As<Napi::String>().Utf8Value();
  Napi::Value size = disk.Get("sizeBytes");
  if (!size.IsUndefined() && !size.IsNull() && !isSafeInteger(size, &options.sizeBytes)) {
    throwWithCode(env, "exportDisk: disk.sizeBytes must be a non-negative integer", "LANBOOT_INVALID_ARGUMENT", true);
  }
  auto* worker = new ExportDiskWorker(env, options, info[1].As<Napi::String>().Utf8Value(), info.Length() >= 3 ? info[2] : env.Undefined());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// copySparseFile(src, dst): Promise<void>.
class CopySparseWorker : public PromiseWorker<Napi::AsyncWorker> {
 public:
  CopySparseWorker(Napi::Env env, std::string src, std::string dst)
      : PromiseWorker(env, "lanboot-copy-sparse"), src_(std::move(src)), dst_(std::move(dst)) {}

 protected:
  void Execute() override {
    std::string error;
    int rc = lanboot::scsi::copySparseFile(src_, dst_, &error);
    if (rc != 0) fail(rc == -ENOSPC ? "LANBOOT_NO_SPACE" : rc == -ENOENT ? "LANBOOT_FILE_NOT_FOUND" : "LANBOOT_COPY_FAILED", error);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

 private:
  std::string src_;
  std::string dst_;
};

Napi::Value copySparseFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    throwWithCode(env, "copySparseFile(src, dst): two path strings required", "LANBOOT_INVALID_ARGUMENT", true);
  }
  auto* worker = new CopySparseWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// verifiedCopy(src, dst, length, cancelFlag?: Int32Array over a SharedArrayBuffer,
// onProgress?): Promise<{ sha256, dataBytes }>. The copy stops (LANBOOT_CANCELLED) once
// cancelFlag[0] is non-zero: JS sets it with Atomics.store from its AbortSignal.
class VerifiedCopyWorker : public PromiseWorker<Napi::AsyncProgressWorker<uint64_t>> {
 public:
  VerifiedCopyWorker(Napi::Env env, std::string src, std::string dst, uint64_t length, const Napi::Value& cancelFlag,
                     const Napi::Value& onProgress)
      : PromiseWorker(env, "lanboot-verified-copy"), src_(std::move(src)), dst_(std::move(dst)), length_(length), progress_(onProgress) {
    if (cancelFlag.IsTypedArray()) {
      auto flag = cancelFlag.As<Napi::TypedArrayOf<int32_t>>();
      // The reference keeps the (shared) buffer alive while the worker thread reads it.
      cancelRef_ = Napi::Persistent(cancelFlag.As<Napi::Object>());
      cancel_ = flag.Data();
    }
  }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    lanboot::image::VerifiedCopyHooks hooks;
    int32_t* cancel = cancel_;
    if (cancel != nullptr) hooks.cancelled = [cancel] { return __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0; };
    hooks.progress = [&](uint64_t done) { progress.Send(&done, 1); };
    std::string error;
    int rc = lanboot::image::verifiedSparseCopy(src_, dst_, length_, hooks, &result_, &error);
    if (rc == 0) return;
    const char* code = rc == -ECANCELED                          ? "LANBOOT_CANCELLED"
                       : rc == -ENOSPC                           ? "LANBOOT_NO_SPACE"
                       : rc == lanboot::image::kSourceEndedEarly ? "LANBOOT_SOURCE_ENDED"
                       : rc == lanboot::image::kReadBackMismatch ? "LANBOOT_VERIFY_FAILED"
                       : rc == -EEXIST                           ? "LANBOOT_INVALID_ARGUMENT"
                                                                 : "LANBOOT_IO_FAILED";
    fail(code, error);
  }
  void OnProgress(const uint64_t* data, size_t count) override { progress_.call(Env(), data, count); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("sha256", Napi::String::New(env, result_.sha256));
    out.Set("dataBytes", Napi::Number::New(env, double(result_.dataBytes)));
    deferred_.Resolve(out);
  }

 private:
  std::string src_;
  std::string dst_;
  uint64_t length_;
  ProgressCallback progress_;
  Napi::ObjectReference cancelRef_;
  int32_t* cancel_ = nullptr;
  lanboot::image::VerifiedCopyResult result_;
};

Napi::Value verifiedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t length = 0;
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !isSafeInteger(info[2], &length)) {
    throwWithCode(env, "verifiedCopy(src, dst, length, cancelFlag?, onProgress?): two path strings and a byte count required",
                  "LANBOOT_INVALID_ARGUMENT", true);
  }
  Napi::Value cancelFlag = info.Length() >= 4 ? info[3] : env.Undefined();
  if (!cancelFlag.IsUndefined() && !cancelFlag.IsNull()) {
    bool ok = cancelFlag.IsTypedArray() && cancelFlag.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
              cancelFlag.As<Napi::TypedArray>().ElementLength() >= 1;
    if (!ok) throwWithCode(env, "verifiedCopy: cancelFlag must be an Int32Array of at least one element", "LANBOOT_INVALID_ARGUMENT", true);
  }
  auto* worker = new VerifiedCopyWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), length,
                                        cancelFlag, info.Length() >= 5 ? info[4] : env.Undefined());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// prewarmFile(path, ranges: number[] (offset, length pairs), maxBytes, cancelFlag?):
// Promise<bytesRead>. Reads the ranges in order into the page cache on a worker thread; stops
// (LANBOOT_CANCELLED) once cancelFlag[0] is non-zero.
class PrewarmWorker : public PromiseWorker<Napi::AsyncWorker> {
 public:
  PrewarmWorker(Napi::Env env, std::string path, std::vector<lanboot::system::ByteRange> ranges, uint64_t maxBytes,
                const Napi::Value& cancelFlag)
      : PromiseWorker(env, "lanboot-prewarm"), path_(std::move(path)), ranges_(std::move(ranges)), maxBytes_(maxBytes) {
    if (cancelFlag.IsTypedArray()) {
      cancelRef_ = Napi::Persistent(cancelFlag.As<Napi::Object>());
      cancel_ = cancelFlag.As<Napi::TypedArrayOf<int32_t>>().Data();
    }
  }

 protected:
  void Execute() override {
    int32_t* cancel = cancel_;
    std::function<bool()> cancelled;
    if (cancel != nullptr) cancelled = [cancel] { return __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0; };
    std::string error;
    int rc = lanboot::system::prewarmRanges(path_, ranges_, maxBytes_, cancelled, &bytesRead_, &error);
    if (rc == 0) return;
    fail(rc == -ECANCELED ? "LANBOOT_CANCELLED" : rc == -ENOENT ? "LANBOOT_FILE_NOT_FOUND" : "LANBOOT_IO_FAILED", error);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), double(bytesRead_))); }

 private:
  std::string path_;
  std::vector<lanboot::system::ByteRange> ranges_;
  uint64_t maxBytes_;
  Napi::ObjectReference cancelRef_;
  int32_t* cancel_ = nullptr;
  uint64_t bytesRead_ = 0;
};

Napi::Value prewarmFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr uint32_t kMaxRanges = 4u << 20;
  uint64_t maxBytes = 0;
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !isSafeInteger(info[2], &maxBytes)) {
    throwWithCode(env, "prewarmFile(path, ranges, maxBytes, cancelFlag?): path string, array of offset/length pairs and a byte count required",
                  "LANBOOT_INVALID_ARGUMENT", true);
  }
  Napi::Array flat = info[1].As<Napi::Array>();
  if (flat.Length() % 2 != 0 || flat.Length() / 2 > kMaxRanges) {
    throwWithCode(env, "prewarmFile: ranges must hold offset/length pairs (at most 4 Mi ranges)", "LANBOOT_INVALID_ARGUMENT", true);
  }
  std::vector<lanboot::system::ByteRange> ranges(flat.Length() / 2);
  for (uint32_t i = 0; i < ranges.size(); ++i) {
    if (!isSafeInteger(flat.Get(2 * i), &ranges[i].offset) || !isSafeInteger(flat.Get(2 * i + 1), &ranges[i].length)) {
      throwWithCode(env, "prewarmFile: offsets and lengths must be non-negative whole numbers", "LANBOOT_INVALID_ARGUMENT", true);
    }
  }
  Napi::Value cancelFlag = info.Length() >= 4 ? info[3] : env.Undefined();
  if (!cancelFlag.IsUndefined() && !cancelFlag.IsNull()) {
    bool ok = cancelFlag.IsTypedArray() && cancelFlag.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
              cancelFlag.As<Napi::TypedArray>().ElementLength() >= 1;
    if (!ok) throwWithCode(env, "prewarmFile: cancelFlag must be an Int32Array of at least one element", "LANBOOT_INVALID_ARGUMENT", true);
  }
  auto* worker = new PrewarmWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(ranges), maxBytes, cancelFlag);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value deltaIsIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throwWithCode(env, "deltaIsIdle(deltaDir): path string required", "LANBOOT_INVALID_ARGUMENT", true);
  }
  return Napi::Boolean::New(env, lanboot::scsi::deltaIsIdle(info[0].As<Napi::String>().Utf8Value()));
}


// Reactor threads for sendFileRange: epoll loops, so slow readers cost no thread; kept off
// the libuv threadpool (fs, imports and exports use it).
constexpr unsigned kSendfileThreads = 2;
constexpr size_t kSendfileMaxJobs = 4096;

const char* sendfileErrorCode(int error) {
  switch (error) {
    case ETIMEDOUT:
      return "LANBOOT_SEND_STALLED";
    case ECANCELED:
      return "LANBOOT_CANCELLED";
    case EPIPE:
    case ECONNRESET:
      return "LANBOOT_PEER_GONE";
    default:
      return "LANBOOT_IO_FAILED";
  }
}

// sendFileRange(socketFd, filePath, offset, length, stallMs, cancelFlag?): Promise<bytesSent>.
// Sends bytes [offset, offset+length) of the file to the socket with sendfile(2) on a reactor
// thread. The socket fd is dup'ed: the caller's fd may be closed meanwhile (the connection
// then lives until the transfer ends; set cancelFlag[0] to end it sooner). The caller must
// not write to the socket until the promise settles.
Napi::Value sendFileRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t socketFd = 0, offset = 0, length = 0, stallMs = 0;
  if (info.Length() < 5 || !isSafeInteger(info[0], &socketFd) || !info[1].IsString() || !isSafeInteger(info[2], &offset) ||
      !isSafeInteger(info[3], &length) || !isSafeInteger(info[4], &stallMs) || socketFd > 0x7fffffff || stallMs == 0 ||
      stallMs > 3600000) {
    throwWithCode(env, "sendFileRange(socketFd, filePath, offset, length, stallMs, cancelFlag?): fd, path, byte offset, byte count and 1..3600000 ms required",
                  "LANBOOT_INVALID_ARGUMENT", true);
  }
  Napi::Value cancelFlag = info.Length() >= 6 ? info[5] : env.Undefined();
  const int32_t* cancel = nullptr;
  if (!cancelFlag.IsUndefined() && !cancelFlag.IsNull()) {
    bool ok = cancelFlag.IsTypedArray() && cancelFlag.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
              cancelFlag.As<Napi::TypedArray>().ElementLength() >= 1 &&
              cancelFlag.As<Napi::TypedArray>().ArrayBuffer().Get("constructor").StrictEquals(env.Global().Get("SharedArrayBuffer"));
    if (!ok) throwWithCode(env, "sendFileRange: cancelFlag must be an Int32Array over a SharedArrayBuffer", "LANBOOT_INVALID_ARGUMENT", true);
    cancel = cancelFlag.As<Napi::TypedArrayOf<int32_t>>().Data();
  }
  AddonState* state = env.GetInstanceData<AddonState>();
  if (state == nullptr) throwWithCode(env, "sendFileRange: the addon is shutting down", "LANBOOT_CANCELLED");

  struct stat socketStat{};
  if (::fstat(int(socketFd), &socketStat) != 0 || !S_ISSOCK(socketStat.st_mode)) {
    throwWithCode(env, "sendFileRange: fd " + std::to_string(socketFd) + " is not a socket", "LANBOOT_INVALID_ARGUMENT", true);
  }
  const std::string path = info[1].As<Napi::String>().Utf8Value();
  int fileFd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fileFd < 0) {
    int error = errno;
    throwWithCode(env, "sendFileRange: cannot open " + path + ": " + std::strerror(error), error == ENOENT ? "LANBOOT_FILE_NOT_FOUND" : "LANBOOT_IO_FAILED");
  }
  struct stat fileStat{};
  if (::fstat(fileFd, &fileStat) != 0 || !S_ISREG(fileStat.st_mode) || offset > uint64_t(fileStat.st_size) ||
      length > uint64_t(fileStat.st_size) - offset) {
    ::close(fileFd);
    throwWithCode(env, "sendFileRange: " + path + " is not a regular file holding the range", "LANBOOT_IO_FAILED");
  }
  int dupFd = ::fcntl(int(socketFd), F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) {
    int error = errno;
    ::close(fileFd);
    throwWithCode(env, std::string("sendFileRange: dup: ") + std::strerror(error), "LANBOOT_IO_FAILED");
  }

  if (!state->sendfile) {
    state->sendfileDone = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                        "lanboot-sendfile", 0, 1);
    // Pending transfers keep the process alive through their sockets, not through this.
    state->sendfileDone.Unref(env);
    state->sendfile = std::make_unique<lanboot::system::SendfileReactor>(kSendfileThreads, kSendfileMaxJobs);
  }
  auto* deferred = new Napi::Promise::Deferred(Napi::Promise::Deferred::New(env));
  Napi::Promise promise = deferred->Promise();
  auto job = std::make_unique<lanboot::system::SendfileJob>();
  job->socketFd = dupFd;
  job->fileFd = fileFd;
  job->offset = offset;
  job->remaining = length;
  job->stallMs = uint32_t(stallMs);
  job->cancel = cancel;
  Napi::ThreadSafeFunction tsfn = state->sendfileDone;
  // The cancel flag's buffer must outlive the job: the reference is dropped on the JS thread
  // when the result arrives.
  auto* cancelRef = cancel != nullptr ? new Napi::ObjectReference(Napi::Persistent(cancelFlag.As<Napi::Object>())) : nullptr;
  job->done = [tsfn, deferred, cancelRef](int error, uint64_t sent) mutable {
    auto* result = new SendfileResult{deferred, error, sent};
    napi_status status = tsfn.NonBlockingCall(result, [cancelRef](Napi::Env callEnv, Napi::Function, SendfileResult* data) {
      std::unique_ptr<SendfileResult> owned(data);
      std::unique_ptr<Napi::Promise::Deferred> settle(owned->deferred);
      std::unique_ptr<Napi::ObjectReference> keep(cancelRef);
      if (callEnv == nullptr) {
        // Teardown: no JS thread to drop the reference on; the process is going away.
        (void)keep.release();
        return;
      }
      if (owned->error == 0) {
        settle->Resolve(Napi::Number::New(callEnv, double(owned->sent)));
        return;
      }
      Napi::Error failure = Napi::Error::New(callEnv, std::string("sendfile: ") + std::strerror(owned->error) + " after " +
                                                        std::to_string(owned->sent) + " bytes");
      failure.Set("code", Napi::String::New(callEnv, sendfileErrorCode(owned->error)));
      failure.Set("bytesSent", Napi::Number::New(callEnv, double(owned->sent)));
      settle->Reject(failure.Value());
    });
    // The environment is going away: nothing is left to settle.
    if (status != napi_ok) delete result;
  };
  int rc = state->sendfile->submit(std::move(job));
  if (rc != 0) {
    delete deferred;
    delete cancelRef;
    throwWithCode(env, rc == -EAGAIN ? "sendFileRange: too many transfers in flight" : "sendFileRange: shutting down",
                  rc == -EAGAIN ? "LANBOOT_BUSY" : "LANBOOT_CANCELLED");
  }
  return promise;
}

void cleanupEnvironment(AddonState* state) {
  // Runs at environment teardown (process exit, worker exit): stop every engine thread
  // before V8 goes away. Engines still referenced from JS are never finalized otherwise.
  for (IscsiEngineWrap* engine : std::set<IscsiEngineWrap*>(state->engines)) {
    engine->detachState();
    engine->shutdown();
  }
  state->engines.clear();
  if (state->sendfile) {
    // Ends every transfer (their results are dropped: the environment is closing) and joins
    // the reactor threads before V8 goes away.
    state->sendfile->stop();
    state->sendfileDone.Release();
  }
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  env.SetInstanceData<AddonState>(state);  // deleted by node-addon-api at teardown
  env.AddCleanupHook(cleanupEnvironment, state);
  Napi::Function engine = IscsiEngineWrap::define(env);
  state->engineConstructor = Napi::Persistent(engine);
  exports.Set("IscsiEngine", engine);
  exports.Set("exportDisk", Napi::Function::New(env, exportDisk, "exportDisk"));
  exports.Set("deltaIsIdle", Napi::Function::New(env, deltaIsIdle, "deltaIsIdle"));
  exports.Set("copySparseFile", Napi::Function::New(env, copySparseFile, "copySparseFile"));
  exports.Set("verifiedCopy", Napi::Function::New(env, verifiedCopy, "verifiedCopy"));
  exports.Set("prewarmFile", Napi::Function::New(env, prewarmFile, "prewarmFile"));
  exports.Set("sendFileRange", Napi::Function::New(env, sendFileRange, "sendFileRange"));
  exports.Set("sdNotify", Napi::Function::New(env, sdNotify, "sdNotify"));
  exports.Set("openInterfaceUdpSocket", Napi::Function::New(env, openInterfaceUdpSocket, "openInterfaceUdpSocket"));
  return exports;
}

}  // namespace

NODE_API_MODULE(lanboot_native, init)
