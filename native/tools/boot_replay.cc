// boot-replay: replays a recorded boot trace (native/src/scsi/command_trace.h format) from
// many simulated seats at once, for the boot-storm benchmark (bench/boot-storm.ts).
//
// Each seat is one thread with its own iSCSI session (libiscsi, synchronous calls): it logs
// in, waits until every seat has logged in, then sends the trace's READ/WRITE commands in the
// recorded order, one at a time, sleeping each command's think time first: the recorded gap
// between the end of the previous command (its arrival plus its service time) and the arrival
// of this one (0 when the recorded commands overlapped). So a seat boots as the recorded PC
// did, plus whatever the target under load adds.
//
//   boot-replay --trace FILE --seats FILE [--think-scale X]
//     --seats FILE: one seat per line, "URL INITIATOR-IQN", URL as libiscsi takes it
//                   (iscsi://[user%secret@]host:port/target-iqn/lun)
// Prints one JSON object: per-seat login and boot times (ms), commands, bytes, errors, and
// the client's own CPU seconds (getrusage), so a run can show the client was not the limit.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Command {
  uint64_t thinkNs;
  uint64_t lba;
  uint32_t blocks;
  bool write;
};

struct SeatResult {
  double loginMs = 0;
  double bootMs = 0;
  uint64_t commands = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  std::string error;
};

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

bool loadTrace(const std::string& path, double thinkScale, std::vector<Command>* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 16 || std::memcmp(bytes.data(), "LBTRACE1", 8) != 0 || le32(&bytes[8]) != 1 || le32(&bytes[12]) != 32) {
    *error = "not a lanboot trace: " + path;
    return false;
  }
  struct Raw {
    uint64_t start, offset;
    uint32_t length, service;
    uint8_t op;
  };
  std::vector<Raw> raw;
  for (size_t at = 16; at + 32 <= bytes.size(); at += 32) {
    const uint8_t* p = &bytes[at];
    raw.push_back(Raw{le64(p), le64(p + 8), le32(p + 16), le32(p + 20), p[28]});
  }
  std::stable_sort(raw.begin(), raw.end(), [](const Raw& a, const Raw& b) { return a.start < b.start; });
  uint64_t previousEnd = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const Raw& r = raw[i];
    if (r.length == 0 || r.length % 512 != 0 || r.op > 1) continue;
    uint64_t think = 0;
    if (i > 0 && r.start > previousEnd) think = uint64_t(double(r.start - previousEnd) * thinkScale);
    out->push_back(Command{think, r.offset / 512, r.length / 512, r.op == 1});
    previousEnd = std::max(previousEnd, r.start + uint64_t(r.service) * 1000);
  }
  return true;
}

class Barrier {
 public:
  explicit Barrier(size_t count) : left_(count) {}
  void arriveAndWait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--left_ == 0) {
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t left_;
};

double msSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void runSeat(const std::string& url, const std::string& initiator, const std::vector<Command>& commands, Barrier* barrier,
             SeatResult* result) {
  const auto loginStart = Clock::now();
  iscsi_context* iscsi = iscsi_create_context(initiator.c_str());
  iscsi_url* parsed = iscsi ? iscsi_parse_full_url(iscsi, url.c_str()) : nullptr;
  bool ok = parsed != nullptr;
  if (ok) {
    iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
    ok = iscsi_full_connect_sync(iscsi, parsed->portal, parsed->lun) == 0;
  }
  if (!ok) result->error = iscsi ? iscsi_get_error(iscsi) : "no context";
  result->loginMs = msSince(loginStart);
  barrier->arriveAndWait();
  if (!ok) {
    if (parsed) iscsi_destroy_url(parsed);
    if (iscsi) iscsi_destroy_context(iscsi);
    return;
  }
  const int lun = parsed->lun;
  std::vector<uint8_t> buffer;
  const auto start = Clock::now();
  for (const Command& c : commands) {
    if (c.thinkNs > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(c.thinkNs));
    const uint32_t length = c.blocks * 512;
    scsi_task* task;
    if (c.write) {
      if (buffer.size() < length) buffer.resize(length, 0x5a);
      task = iscsi_write16_sync(iscsi, lun, c.lba, buffer.data(), length, 512, 0, 0, 0, 0, 0);
    } else {
      task = iscsi_read16_sync(iscsi, lun, c.lba, length, 512, 0, 0, 0, 0, 0);
    }
    ++result->commands;
    if (task == nullptr || task->status != SCSI_STATUS_GOOD) {
      ++result->errors;
      if (result->error.empty()) result->error = iscsi_get_error(iscsi);
    } else {
      result->bytes += length;
    }
    if (task) scsi_free_scsi_task(task);
  }
  result->bootMs = msSince(start);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_url(parsed);
  iscsi_destroy_context(iscsi);
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (uint8_t(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::string tracePath, seatsPath;
  double thinkScale = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--trace") tracePath = argv[i + 1];
    else if (flag == "--seats") seatsPath = argv[i + 1];
    else if (flag == "--think-scale") thinkScale = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "boot-replay: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (tracePath.empty() || seatsPath.empty() || !(thinkScale >= 0)) {
    std::fprintf(stderr, "usage: boot-replay --trace FILE --seats FILE [--think-scale X]\n");
    return 2;
  }
  std::vector<Command> commands;
  std::string error;
  if (!loadTrace(tracePath, thinkScale, &commands, &error)) {
    std::fprintf(stderr, "boot-replay: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> seats;
  std::ifstream list(seatsPath);
  for (std::string line; std::getline(list, line);) {
    std::istringstream words(line);
    std::string url, initiator;
    if (words >> url >> initiator) seats.emplace_back(url, initiator);
  }
  if (seats.empty()) {
    std::fprintf(stderr, "boot-replay: no seats in %s\n", seatsPath.c_str());
    return 1;
  }
  std::vector<SeatResult> results(seats.size());
  Barrier barrier(seats.size());
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (size_t i = 0; i < seats.size(); ++i) {
    threads.emplace_back(runSeat, seats[i].first, seats[i].second, std::cref(commands), &barrier, &results[i]);
  }
  for (auto& t : threads) t.join();
  const double wallMs = msSince(start);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  uint64_t thinkNs = 0;
  for (const Command& c : commands) thinkNs += c.thinkNs;
  std::printf("{\"wallMs\":%.1f,\"clientCpuSeconds\":%.3f,\"commandsPerSeat\":%zu,\"thinkMs\":%.1f,\"seats\":[", wallMs, cpu, commands.size(),
              double(thinkNs) / 1e6);
  for (size_t i = 0; i < results.size(); ++i) {
    const SeatResult& r = results[i];
    std::printf("%s{\"loginMs\":%.1f,\"bootMs\":%.1f,\"commands\":%llu,\"bytes\":%llu,\"errors\":%llu,\"error\":%s}", i ? "," : "", r.loginMs,
                r.bootMs, (unsigned long long)r.commands, (unsigned long long)r.bytes, (unsigned long long)r.errors,
                jsonString(r.error).c_str());
  }
  std::printf("]}\n");
  return 0;
}
