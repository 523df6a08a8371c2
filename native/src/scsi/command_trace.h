// A per-target record of the block commands a seat sends (what a boot reads and writes, and
// when), for boot-storm replay and for the pre-warm's boot set. Off by default; while off the
// only cost on the command path is one atomic load (enabled()).
//
// File format (little-endian), appended to while recording:
//   header  16 bytes: "LBTRACE1", u32 version (1), u32 record size (32)
//   records 32 bytes each: u64 start (CLOCK_MONOTONIC ns, when the command arrived),
//     u64 byte offset, u32 byte length, u32 service time (µs, arrival to response sent),
//     u32 session (the engine's nexus id, low 32 bits), u8 op (0 read, 1 write),
//     u8 status (SAM-5), u16 reserved (0)
// Only READ and WRITE (6/10/12/16, and WRITE AND VERIFY) are recorded: they are what moves
// a boot's bytes; a record's offset and length are in bytes of 512-byte blocks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace lanboot::scsi {

constexpr char kTraceMagic[8] = {'L', 'B', 'T', 'R', 'A', 'C', 'E', '1'};
constexpr uint32_t kTraceVersion = 1;
constexpr size_t kTraceHeaderSize = 16;
constexpr size_t kTraceRecordSize = 32;
// A trace stops growing here (about 2 million commands, several boots); the switch stays on.
constexpr uint64_t kTraceMaxBytes = 64ull << 20;

struct TraceRecord {
  uint64_t startNs = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t serviceUs = 0;
  uint32_t session = 0;
  uint8_t op = 0;
  uint8_t status = 0;
};

void encodeTraceRecord(const TraceRecord& record, uint8_t out[kTraceRecordSize]);

class CommandTrace {
 public:
  CommandTrace() = default;
  ~CommandTrace();
  CommandTrace(const CommandTrace&) = delete;
  CommandTrace& operator=(const CommandTrace&) = delete;

  // Starts appending to `path` (created 0600 with its header when new or empty). Returns 0
  // or -errno with `error` set; a file whose header is not a trace's is refused (-EINVAL).
  int start(const std::string& path, std::string* error);
  // Stops and writes what is buffered. Idempotent.
  void stop();
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Records one command if it is a block READ or WRITE. Cheap to call only when enabled().
  void record(const uint8_t* cdb, size_t cdbLength, uint64_t startNs, uint32_t serviceUs, uint64_t session,
              uint8_t status);

 private:
  void flushLocked();

  std::atomic<bool> enabled_{false};
  std::mutex mutex_;
  int fd_ = -1;
  uint64_t fileBytes_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace lanboot::scsi
