// The command trace (scsi/command_trace.h): the file's header and records, READ/WRITE kept and
// other commands left out, off means nothing is written, an existing trace is appended to and
// a file that is not a trace is refused; and the pre-warm's ordered range reads
// (system/prewarm.h): clipped to the file, bounded, cancellable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "scsi/command_trace.h"
#include "system/prewarm.h"

using namespace lanboot;

namespace {

std::vector<uint8_t> readFile(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

std::string tempDir() {
  char tmpl[] = "/tmp/lanboot-trace-test-XXXXXX";
  return mkdtemp(tmpl);
}

void recordsAndFormat() {
  const std::string dir = tempDir();
  const std::string path = dir + "/trace.bin";
  scsi::CommandTrace trace;
  std::string error;
  CHECK(!trace.enabled());
  CHECK_EQ(trace.start(path, &error), 0);
  CHECK(trace.enabled());
  const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0};                   // LBA 16, 8 blocks
  const uint8_t write16[16] = {0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 1, 0, 0};  // LBA 32, 1 block
  const uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0};
  trace.record(read10, sizeof read10, 1000, 7, 3, 0);
  trace.record(inquiry, sizeof inquiry, 2000, 1, 3, 0);
  trace.record(write16, sizeof write16, 3000, 9, 3, 2);
  trace.stop();
  CHECK(!trace.enabled());
  trace.record(read10, sizeof read10, 4000, 1, 3, 0);  // off: not written

  std::vector<uint8_t> bytes = readFile(path);
  CHECK_EQ(bytes.size(), size_t(16 + 2 * 32));
  if (bytes.size() != 16 + 2 * 32) return;
  CHECK(std::memcmp(bytes.data(), "LBTRACE1", 8) == 0);
  CHECK_EQ(le32(&bytes[8]), 1u);
  CHECK_EQ(le32(&bytes[12]), 32u);
  const uint8_t* r = &bytes[16];
  CHECK_EQ(le64(r), 1000u);
  CHECK_EQ(le64(r + 8), 16u * 512);
  CHECK_EQ(le32(r + 16), 8u * 512);
  CHECK_EQ(le32(r + 20), 7u);
  CHECK_EQ(le32(r + 24), 3u);
  CHECK_EQ(r[28], 0);
  r += 32;
  CHECK_EQ(le64(r), 3000u);
  CHECK_EQ(le64(r + 8), 32u * 512);
  CHECK_EQ(le32(r + 16), 512u);
  CHECK_EQ(r[28], 1);
  CHECK_EQ(r[29], 2);

  // Started again: appended after what is there.
  scsi::CommandTrace again;
  CHECK_EQ(again.start(path, &error), 0);
  again.record(read10, sizeof read10, 5000, 1, 4, 0);
  again.stop();
  CHECK_EQ(readFile(path).size(), size_t(16 + 3 * 32));

  // Not a trace: refused, left alone.
  const std::string other = dir + "/other";
  FILE* f = std::fopen(other.c_str(), "wb");
  std::fputs("not a trace file at all", f);
  std::fclose(f);
  scsi::CommandTrace refused;
  CHECK_EQ(refused.start(other, &error), -EINVAL);
  CHECK(!refused.enabled());
  CHECK_EQ(readFile(other).size(), size_t(23));
  CHECK(refused.start(dir + "/missing-dir/trace.bin", &error) < 0);
  std::remove(path.c_str());
  std::remove(other.c_str());
  rmdir(dir.c_str());
}

void prewarmReads() {
  const std::string dir = tempDir();
  const std::string path = dir + "/golden.img";
  std::vector<uint8_t> data(3 << 20, 0x11);
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  uint64_t bytesRead = 0;
  std::string error;
  // Clipped to the file's end; past the end: nothing.
  CHECK_EQ(system::prewarmRanges(path, {{4096, 8192}, {(3 << 20) - 100, 4096}, {10u << 20, 4096}}, 1 << 30, nullptr, &bytesRead, &error), 0);
  CHECK_EQ(bytesRead, 8192u + 100);
  // Bounded.
  CHECK_EQ(system::prewarmRanges(path, {{0, 3 << 20}}, 5000, nullptr, &bytesRead, &error), 0);
  CHECK_EQ(bytesRead, 5000u);
  // Cancelled between reads of at most 1 MiB.
  int calls = 0;
  CHECK_EQ(system::prewarmRanges(path, {{0, 3 << 20}}, 1 << 30, [&] { return ++calls > 1; }, &bytesRead, &error), -ECANCELED);
  CHECK_EQ(bytesRead, uint64_t(1) << 20);
  CHECK_EQ(system::prewarmRanges(dir + "/missing", {{0, 1}}, 1, nullptr, &bytesRead, &error), -ENOENT);
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

}  // namespace

int main() {
  recordsAndFormat();
  prewarmReads();
  std::printf("scsi_command_trace_test: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
