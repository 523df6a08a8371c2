#include "iscsi/engine.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/hex.h"
#include "cow/store.h"
#include "iscsi/socket_transport.h"

namespace lanboot::iscsi {
namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Formats a socket address as text plus port; IPv4-mapped IPv6 addresses as plain IPv4.
bool describeAddress(const sockaddr_storage& address, std::string* host, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, reinterpret_cast<const uint8_t*>(&v6->sin6_addr) + 12, text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
    *port = ntohs(v6->sin6_port);
  } else {
    return false;
  }
  *host = text;
  return true;
}

bool allowed(const TargetSettings& settings, const std::string& initiatorName) {
  return std::find(settings.initiators.begin(), settings.initiators.end(), initiatorName) != settings.initiators.end();
}

}  // namespace

std::string isidHex(const std::array<uint8_t, 6>& isid) { return common::toHex(isid.data(), isid.size()); }

Engine::Engine(BackingFactory factory, EventSink sink, EngineOptions options)
    : factory_(std::move(factory)), sink_(std::move(sink)), options_(options) {}

Engine::~Engine() { close(); }

int Engine::listen(const std::string& host, uint16_t port, std::string* error) {
  std::lock_guard<std::mutex> lock(stateMutex_);
  if (closing_) {
    *error = "engine is closed";
    return -EBADF;
  }
  if (listenFd_ >= 0) {
    *error = "already listening on port " + std::to_string(listenPort_);
    return -EALREADY;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* resolved = nullptr;
  const std::string portText = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), portText.c_str(), &hints, &resolved);
  if (rc != 0 || !resolved) {
    *error = "invalid listen address '" + host + "': " + gai_strerror(rc);
    return -EINVAL;
  }
  int fd = socket(resolved->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    freeaddrinfo(resolved);
    *error = std::string("socket: ") + strerror(e);
    return -e;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, resolved->ai_addr, resolved->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
    int e = errno;
    freeaddrinfo(resolved);
    ::close(fd);
    *error = "cannot listen on " + host + ":" + portText + ": " + strerror(e);
    return -e;
  }
  freeaddrinfo(resolved);
  sockaddr_storage bound{};
  socklen_t boundLength = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &boundLength);
  std::string boundHost;
  describeAddress(bound, &boundHost, &listenPort_);
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) {
    int e = errno;
    ::close(fd);
    *error = std::string("eventfd: ") + strerror(e);
    return -e;
  }
  listenFd_ = fd;
  acceptThread_ = std::thread([this] { acceptLoop(); });
  return listenPort_;
}

void Engine::acceptLoop() {
  while (true) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    int ready = poll(fds, 2, 1000);
    reapFinished();
    if (ready < 0 && errno != EINTR) break;
    {
      std::lock_guard<std::mutex> lock(stateMutex_);
      if (closing_) break;
    }
    if (ready <= 0 || !(fds[0].revents & POLLIN)) continue;
    sockaddr_storage peer{};
    socklen_t peerLength = sizeof peer;
    int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &peerLength, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        EngineEvent event;
        event.type = EngineEvent::Type::kError;
        event.code = "LANBOOT_ISCSI_ACCEPT";
        event.message = std::string("accept: ") + strerror(errno);
        emit(event);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    int one = 1;
    // Per-command latency decides boot speed (one command in flight from iPXE): no Nagle.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A PC that loses power leaves no FIN: TCP keepalive (30 s idle, then 6 probes 10 s apart)
    // ends its session within about 90 s. Keepalive is answered by the peer's TCP stack, so it
    // also works for iPXE's INT13 connection, which may sit idle for as long as the OS runs.
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int keepIdle = 30, keepInterval = 10, keepCount = 6;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepIdle, sizeof keepIdle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepInterval, sizeof keepInterval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepCount, sizeof keepCount);
    std::string remoteHost, localHost;
    uint16_t remotePort = 0, localPort = 0;
    describeAddress(peer, &remoteHost, &remotePort);
    sockaddr_storage local{};
    socklen_t localLength = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength);
    describeAddress(local, &localHost, &localPort);
    // RFC 7143 13.8 / 3986: IPv6 literals in brackets.
    std::string portal = (local.ss_family == AF_INET6 && localHost.find(':') != std::string::npos)
                             ? "[" + localHost + "]:" + std::to_string(localPort)
                             : localHost + ":" + std::to_string(localPort);
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (closing_ || connections_.size() >= options_.maxConnections) {
      ::close(fd);
      continue;
    }
    auto slot = std::make_shared<ConnectionSlot>();
    slot->token = nextToken_++;
    slot->fd = fd;
    slot->remoteAddress = remoteHost;
    slot->remotePort = remotePort;
    connections_[slot->token] = slot;
    slot->thread = std::thread([this, slot, remoteHost, remotePort, portal] {
      serveConnection(slot, remoteHost, remotePort, portal);
    });
  }
}

void Engine::serveConnection(std::shared_ptr<ConnectionSlot> slot, std::string remoteAddress, uint16_t remotePort,
                             std::string portalAddress) {
  SocketTransport transport(slot->fd);
  ConnectionInfo info;
  info.token = slot->token;
  info.remoteAddress = remoteAddress;
  info.remotePort = remotePort;
  info.portalAddress = portalAddress;
  info.limits = options_.limits;
  info.commandWindow = options_.commandWindow;
  info.maxWriteBuffer = options_.maxWriteBuffer;
  info.loginTimeoutMs = options_.loginTimeoutMs;
  std::string reason;
  {
    Connection connection(*this, transport, info);
    reason = connection.run();
  }
  std::shared_ptr<Session> session;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (!slot->stopReason.empty()) reason = slot->stopReason;
    session = slot->session;
    ::close(slot->fd);
    slot->fd = -1;  // nobody may shutdown() this number again: it can be reused
  }
  if (session) {
    if (session->target) {
      int rc = 0;
      session->target->forEachLun([&](const TargetBacking& backing) {
        backing.lun->nexusRemoved(session->nexusId);
        // Acknowledged writes become durable when a session ends (lun.h flush()).
        int lunRc = backing.lun->flush();
        if (rc == 0) rc = lunRc;
      });
      if (rc != 0) {
        EngineEvent failure;
        failure.type = EngineEvent::Type::kError;
        failure.targetIqn = session->targetName;
        failure.initiatorIqn = session->initiatorName;
        failure.code = "LANBOOT_DISK_FLUSH";
        failure.message = std::string("flush at session end failed: ") + strerror(rc < 0 ? -rc : rc);
        emit(failure);
      }
    }
    EngineEvent event;
    event.type = EngineEvent::Type::kLogout;
    event.targetIqn = session->targetName;
    event.initiatorIqn = session->initiatorName;
    event.isid = isidHex(session->isid);
    event.tsih = session->tsih;
    event.discovery = session->discovery;
    event.reason = reason;
    emit(event);
  }
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    slot->session.reset();
    slot->finished = true;
    connections_.erase(slot->token);
    finished_.push_back(slot);
  }
  stateChanged_.notify_all();
}

void Engine::reapFinished() {
  std::vector<std::shared_ptr<ConnectionSlot>> done;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    done.swap(finished_);
  }
  for (auto& slot : done) {
    if (slot->thread.joinable()) slot->thread.join();
  }
}

std::shared_ptr<const TargetEntry> Engine::lookup(const std::string& iqn) {
  std::shared_lock<std::shared_mutex> lock(registryMutex_);
  auto it = targets_.find(iqn);
  return it == targets_.end() ? nullptr : it->second;
}

std::optional<LoginTargetInfo> Engine::findTarget(const std::string& targetName, const std::string& initiatorName) {
  auto entry = lookup(targetName);
  if (!entry) return std::nullopt;
  LoginTargetInfo info;
  info.iqn = entry->settings.iqn;
  info.initiatorAllowed = allowed(entry->settings, initiatorName);
  info.chap = entry->settings.chap;
  info.mutualChap = entry->settings.mutualChap;
  return info;
}

std::vector<std::string> Engine::visibleTargets(const std::string& initiatorName) {
  std::vector<std::string> names;
  std::shared_lock<std::shared_mutex> lock(registryMutex_);
  for (const auto& [iqn, entry] : targets_) {
    if (allowed(entry->settings, initiatorName)) names.push_back(iqn);
  }
  return names;
}

std::shared_ptr<Session> Engine::createSession(const LoginNegotiator& login, uint64_t connectionToken,
                                               std::string* reason) {
  std::shared_ptr<const TargetEntry> target;
  if (!login.discovery()) {
    target = lookup(login.targetName());
    if (!target || !allowed(target->settings, login.initiatorName())) {
      *reason = "target " + login.targetName() + " went away during login";
      return nullptr;
    }
  }
  // RFC 7143 6.3.5: a new session with the same initiator name and ISID to the same target
  // reinstates the old one, whose connections are closed first.
  const std::string initiator = login.initiatorName();
  const std::string targetName = login.targetName();
  const bool discovery = login.discovery();
  const auto isid = login.isid();
  dropConnections(
      [&](const ConnectionSlot& slot) {
        return slot.token != connectionToken && slot.session && slot.session->initiatorName == initiator &&
               slot.session->isid == isid && slot.session->discovery == discovery &&
               slot.session->targetName == targetName;
      },
      "session reinstated");

  if (target) {
    bool armed = false;
    {
      std::lock_guard<std::mutex> lock(stateMutex_);
      armed = freshStartArmed_.erase(targetName) > 0;
      if (armed) resetting_[targetName]++;
    }
    if (armed) {
      std::string remoteAddress;
      {
        std::lock_guard<std::mutex> lock(stateMutex_);
        auto slotIt = connections_.find(connectionToken);
        if (slotIt != connections_.end()) remoteAddress = slotIt->second->remoteAddress;
      }
      bool ok = runFreshStart(*target, login, connectionToken, remoteAddress, reason);
      std::lock_guard<std::mutex> lock(stateMutex_);
      if (--resetting_[targetName] == 0) resetting_.erase(targetName);
      if (!ok) {
        freshStartArmed_.insert(targetName);  // the PC retries its login: try again then
        return nullptr;
      }
    }
  }

  auto session = std::make_shared<Session>();
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (closing_) {
      *reason = "engine shutting down";
      return nullptr;
    }
    if (!discovery && resetting_.count(targetName)) {
      *reason = "target " + targetName + " is being reset";
      return nullptr;
    }
    auto slotIt = connections_.find(connectionToken);
    if (slotIt == connections_.end() || !slotIt->second->stopReason.empty()) {
      *reason = "connection dropped during login";
      return nullptr;
    }
    // TSIH (11.12.7): non-zero, unique among live sessions.
    uint16_t tsih = 0;
    for (int attempt = 0; attempt < 65536 && tsih == 0; ++attempt) {
      uint16_t candidate = nextTsih_++;
      if (nextTsih_ == 0) nextTsih_ = 1;
      if (candidate == 0) continue;
      bool used = false;
      for (const auto& [token, slot] : connections_) {
        if (slot->session && slot->session->tsih == candidate) used = true;
      }
      if (!used) tsih = candidate;
    }
    if (tsih == 0) {
      *reason = "no free TSIH";
      return nullptr;
    }
    session->tsih = tsih;
    session->nexusId = nextNexusId_++;
    session->discovery = discovery;
    session->initiatorName = initiator;
    session->targetName = targetName;
    session->isid = isid;
    session->target = target;
    session->parameters = login.parameters();
    session->connectedAtMs = nowMs();
    session->remoteAddress = slotIt->second->remoteAddress;
    session->remotePort = slotIt->second->remotePort;
    slotIt->second->session = session;
  }
  if (target) target->forEachLun([&](const TargetBacking& backing) { backing.lun->nexusAdded(session->nexusId); });
  EngineEvent event;
  event.type = EngineEvent::Type::kLogin;
  event.targetIqn = targetName;
  event.initiatorIqn = initiator;
  event.isid = isidHex(isid);
  event.tsih = session->tsih;
  event.discovery = discovery;
  event.remoteAddress = session->remoteAddress;
  emit(event);
  return session;
}

bool Engine::runFreshStart(const TargetEntry& target, const LoginNegotiator& login, uint64_t connectionToken,
                           const std::string& remoteAddress, std::string* reason) {
  const std::string& iqn = target.settings.iqn;
  uint32_t others = 0;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    for (const auto& [token, slot] : connections_) {
      if (token != connectionToken && slot->session && !slot->session->discovery && slot->session->targetName == iqn) {
        ++others;
      }
    }
  }
  EngineEvent event;
  event.type = EngineEvent::Type::kFreshStart;
  event.targetIqn = iqn;
  event.initiatorIqn = login.initiatorName();
  event.remoteAddress = remoteAddress;
  // Without CHAP any host can log in as the seat, so a login proves nothing about a new
  // boot: a session still logged in may be the running PC's own, and its disk stays.
  if (others > 0 && !target.settings.chap) {
    event.reason = "skipped: another session is still logged in and the target has no CHAP to prove a new boot";
    emit(event);
    return true;
  }
  // With CHAP this login proved the secret of the newest boot script, which replaced the
  // one the older sessions used: they belong to the boot before (a PC reset leaves its
  // sessions open until TCP keepalive notices).
  if (others > 0) dropTargetSessions(iqn, connectionToken, "the seat started a new boot");
  int rc = resetStores(target);
  if (rc != 0) {
    *reason = "fresh start of " + iqn + " failed: " + strerror(-rc);
    return false;
  }
  event.reset = true;
  event.endedSessions = others;
  event.reason = others > 0 ? "delta reset; sessions of the previous boot ended" : "delta reset";
  emit(event);
  return true;
}

bool Engine::armFreshStart(const std::string& iqn, std::string* error) {
  auto entry = lookup(iqn);
  if (!entry) {
    *error = "no target " + iqn;
    return false;
  }
  if (!entry->backing.store) {
    *error = "target " + iqn + " has no copy-on-write store";
    return false;
  }
  std::lock_guard<std::mutex> lock(stateMutex_);
  freshStartArmed_.insert(iqn);
  return true;
}

void Engine::disarmFreshStart(const std::string& iqn) {
  std::lock_guard<std::mutex> lock(stateMutex_);
  freshStartArmed_.erase(iqn);
}

bool Engine::freshStartArmed(const std::string& iqn) {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return freshStartArmed_.count(iqn) > 0;
}

void Engine::dropConnections(const std::function<bool(const ConnectionSlot&)>& match, const std::string& reason) {
  std::vector<std::shared_ptr<ConnectionSlot>> victims;
  std::unique_lock<std::mutex> lock(stateMutex_);
  for (auto& [token, slot] : connections_) {
    if (!match(*slot)) continue;
    if (slot->stopReason.empty()) slot->stopReason = reason;
    if (slot->fd >= 0) shutdown(slot->fd, SHUT_RDWR);
    victims.push_back(slot);
  }
  stateChanged_.wait_for(lock, std::chrono::milliseconds(options_.dropTimeoutMs), [&] {
    return std::all_of(victims.begin(), victims.end(), [](const auto& slot) { return slot->finished; });
  });
}

void Engine::dropTargetSessions(const std::string& targetIqn, uint64_t exceptConnectionToken,
                                const std::string& reason) {
  dropConnections(
      [&](const ConnectionSlot& slot) {
        return slot.token != exceptConnectionToken && slot.session && !slot.session->discovery &&
               slot.session->targetName == targetIqn;
      },
      reason);
}

bool Engine::setTarget(const TargetSettings& settings, std::string* error) {
  if (settings.iqn.empty() || settings.iqn.size() > 223) {  // RFC 7143 4.2.7.1: names up to 223 bytes
    *error = "target IQN must be 1..223 bytes";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (closing_) {
      *error = "engine is closed";
      return false;
    }
  }
  uint32_t lastLun = 0;
  for (const auto& extra : settings.extraLuns) {
    if (extra.lun <= lastLun || extra.lun > kMaxLun) {
      *error = "target LUNs must be 1.." + std::to_string(kMaxLun) + ", each once, in increasing order";
      return false;
    }
    lastLun = extra.lun;
  }
  auto previous = lookup(settings.iqn);
  auto entry = std::make_shared<TargetEntry>();
  entry->settings = settings;
  if (previous && previous->settings.sameBacking(settings)) {
    entry->backing = previous->backing;
    // A quota change applies to the open store: the seat's PC stays connected.
    if (entry->backing.store && previous->settings.quotaBytes != settings.quotaBytes) {
      entry->backing.store->setQuotaBytes(settings.quotaBytes);
    }
  } else {
    entry->backing = factory_(settings, error);
    if (!entry->backing.lun) {
      if (error->empty()) *error = "cannot open the disk of " + settings.iqn;
      return false;
    }
  }
  // Every other LUN keeps its open disk when its backing is unchanged (adding a data disk
  // leaves the system disk's store as it is), else it is opened by the same factory.
  for (const auto& lunSettings : settings.extraLuns) {
    ExtraLun extra;
    extra.settings = lunSettings;
    const ExtraLun* kept = nullptr;
    if (previous) {
      for (const auto& old : previous->extraLuns) {
        if (old.settings.sameBacking(lunSettings)) kept = &old;
      }
    }
    if (kept != nullptr) {
      extra.backing = kept->backing;
      if (extra.backing.store && kept->settings.quotaBytes != lunSettings.quotaBytes) {
        extra.backing.store->setQuotaBytes(lunSettings.quotaBytes);
      }
    } else {
      TargetSettings one = settings;
      one.goldenPath = lunSettings.goldenPath;
      one.deltaDir = lunSettings.deltaDir;
      one.sizeBytes = lunSettings.sizeBytes;
      one.quotaBytes = lunSettings.quotaBytes;
      one.serial = lunSettings.serial;
      one.naa = lunSettings.naa;
      one.readOnly = lunSettings.readOnly;
      one.extraLuns.clear();
      extra.backing = factory_(one, error);
      if (!extra.backing.lun) {
        if (error->empty()) *error = "cannot open LUN " + std::to_string(lunSettings.lun) + " of " + settings.iqn;
        return false;
      }
    }
    entry->extraLuns.push_back(std::move(extra));
  }
  {
    std::unique_lock<std::shared_mutex> lock(registryMutex_);
    targets_[settings.iqn] = entry;
  }
  if (previous) {
    std::vector<const scsi::Lun*> newLuns;
    entry->forEachLun([&](const TargetBacking& backing) { newLuns.push_back(backing.lun.get()); });
    const auto sameLuns = [&](const TargetEntry& old) {
      std::vector<const scsi::Lun*> oldLuns;
      old.forEachLun([&](const TargetBacking& backing) { oldLuns.push_back(backing.lun.get()); });
      return oldLuns == newLuns;
    };
    // Sessions on an old disk (or with another set of LUNs: the initiator's view of the
    // target changed), or of initiators the new ACL no longer allows, end now.
    dropConnections(
        [&](const ConnectionSlot& slot) {
          return slot.session && !slot.session->discovery && slot.session->targetName == settings.iqn &&
                 (!sameLuns(*slot.session->target) || !allowed(settings, slot.session->initiatorName));
        },
        "target reconfigured");
  }
  return true;
}

bool Engine::removeTarget(const std::string& iqn) {
  std::shared_ptr<const TargetEntry> entry;
  {
    std::unique_lock<std::shared_mutex> lock(registryMutex_);
    auto it = targets_.find(iqn);
    if (it == targets_.end()) return false;
    entry = it->second;
    targets_.erase(it);
  }
  disarmFreshStart(iqn);
  stopCommandTrace(iqn);
  dropTargetSessions(iqn, 0, "target removed");
  entry->forEachLun([](const TargetBacking& backing) { backing.lun->flush(); });
  return true;
}

bool Engine::resetDisk(const std::string& iqn, std::string* error) {
  auto entry = lookup(iqn);
  if (!entry) {
    *error = "no target " + iqn;
    return false;
  }
  if (!entry->backing.store) {
    *error = "target " + iqn + " has no copy-on-write store";
    return false;
  }
  {
    // Sessions created from here on are refused until the reset is done, so no write can
    // land between dropping the sessions and discarding the delta.
    std::lock_guard<std::mutex> lock(stateMutex_);
    resetting_[iqn]++;
    freshStartArmed_.erase(iqn);  // this reset is the fresh start
  }
  dropTargetSessions(iqn, 0, "disk reset");
  int rc = resetStores(*entry);
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (--resetting_[iqn] == 0) resetting_.erase(iqn);
  }
  if (rc != 0) {
    *error = "reset of " + iqn + " failed: " + strerror(-rc);
    return false;
  }
  return true;
}

int64_t Engine::deltaBytes(const std::string& iqn) {
  auto entry = lookup(iqn);
  if (!entry || !entry->backing.store) return -1;
  return int64_t(entry->backing.store->deltaBytesUsed());
}

int Engine::readDisk(const std::string& iqn, uint64_t offset, uint64_t length, uint8_t* out) {
  auto entry = lookup(iqn);
  if (!entry || !entry->backing.store) return -ENOENT;
  const auto& store = entry->backing.store;
  if (offset > store->sizeBytes() || length > store->sizeBytes() - offset) return -EINVAL;
  return store->read(offset, length, out);
}

std::vector<SessionSnapshot> Engine::sessions() {
  std::vector<SessionSnapshot> out;
  std::lock_guard<std::mutex> lock(stateMutex_);
  for (const auto& [token, slot] : connections_) {
    const auto& session = slot->session;
    if (!session) continue;
    SessionSnapshot snapshot;
    snapshot.targetIqn = session->targetName;
    snapshot.initiatorIqn = session->initiatorName;
    snapshot.isid = isidHex(session->isid);
    snapshot.tsih = session->tsih;
    snapshot.remoteAddress = session->remoteAddress;
    snapshot.remotePort = session->remotePort;
    snapshot.connectedAtMs = session->connectedAtMs;
    snapshot.commands = session->counters.commands.load(std::memory_order_relaxed);
    snapshot.bytesRead = session->counters.bytesRead.load(std::memory_order_relaxed);
    snapshot.bytesWritten = session->counters.bytesWritten.load(std::memory_order_relaxed);
    const uint64_t micros = session->counters.serviceMicroseconds.load(std::memory_order_relaxed);
    snapshot.meanLatencyUs = snapshot.commands ? double(micros) / double(snapshot.commands) : 0.0;
    out.push_back(std::move(snapshot));
  }
  return out;
}

void Engine::emit(const EngineEvent& event) {
  if (sink_) sink_(event);
}

void Engine::close() {
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    if (closed_) return;
    closed_ = true;
    closing_ = true;
  }
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof one);
    (void)ignored;
  }
  if (acceptThread_.joinable()) acceptThread_.join();
  if (listenFd_ >= 0) ::close(listenFd_);
  if (wakeFd_ >= 0) ::close(wakeFd_);
  listenFd_ = wakeFd_ = -1;
  dropConnections([](const ConnectionSlot&) { return true; }, "shutdown");
  // Threads that did not finish within the timeout are still joined: they only wait for a
  // LUN call to return, and their socket is already shut down.
  std::vector<std::shared_ptr<ConnectionSlot>> remaining;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    for (auto& [token, slot] : connections_) remaining.push_back(slot);
  }
  for (auto& slot : remaining) {
    if (slot->thread.joinable()) slot->thread.join();
  }
  reapFinished();
  std::map<std::string, std::shared_ptr<const TargetEntry>> targets;
  {
    std::unique_lock<std::shared_mutex> lock(registryMutex_);
    targets.swap(targets_);
  }
  for (auto& [iqn, entry] : targets) entry->forEachLun([](const TargetBacking& backing) { backing.lun->flush(); });
  std::lock_guard<std::mutex> lock(traceMutex_);
  for (auto& [iqn, trace] : traces_) trace->stop();
}

int Engine::resetStores(const TargetEntry& target) {
  int rc = target.backing.store ? target.backing.store->reset() : 0;
  // A data disk (resetWithTarget false) keeps its delta: it outlives the system disk's resets.
  for (const auto& extra : target.extraLuns) {
    if (!extra.settings.resetWithTarget || !extra.backing.store) continue;
    int extraRc = extra.backing.store->reset();
    if (rc == 0) rc = extraRc;
  }
  return rc;
}

std::shared_ptr<scsi::CommandTrace> Engine::commandTrace(const std::string& targetIqn) {
  std::lock_guard<std::mutex> lock(traceMutex_);
  auto& trace = traces_[targetIqn];
  if (!trace) trace = std::make_shared<scsi::CommandTrace>();
  return trace;
}

bool Engine::setCommandTrace(const std::string& iqn, const std::string& path, std::string* error) {
  if (!lookup(iqn)) {
    *error = "no target " + iqn;
    return false;
  }
  if (path.empty()) {
    commandTrace(iqn)->stop();
    return true;
  }
  return commandTrace(iqn)->start(path, error) == 0;
}

bool Engine::commandTraceOn(const std::string& iqn) {
  std::lock_guard<std::mutex> lock(traceMutex_);
  auto it = traces_.find(iqn);
  return it != traces_.end() && it->second->enabled();
}

void Engine::stopCommandTrace(const std::string& iqn) {
  std::lock_guard<std::mutex> lock(traceMutex_);
  auto it = traces_.find(iqn);
  if (it == traces_.end()) return;
  it->second->stop();
  traces_.erase(it);
}

}  // namespace lanboot::iscsi
