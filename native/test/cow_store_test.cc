// CowStore against real files in a temp dir: copy-on-write isolation, golden immutability,
// copy-up, reset, crash consistency (a forked child killed with SIGKILL), quota, discard.
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cow/map_header.h"
#include "cow/store.h"
#include "check.h"

using lanboot::scsi::CowStore;
using lanboot::scsi::CowStoreOptions;
using lanboot::scsi::FileExtent;
using lanboot::scsi::kSeatQuotaExceeded;

namespace {


constexpr uint64_t kChunk = 4096;

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/lanboot-cow-test-XXXXXX";
    char* made = ::mkdtemp(pattern);
    if (made == nullptr) {
      std::perror("mkdtemp");
      std::exit(2);
    }
    path = made;
  }
  ~TempDir() {
    ::nftw(path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
           FTW_DEPTH | FTW_PHYS);
  }
};

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

void writeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    std::perror("writeFile");
    std::exit(2);
  }
  std::fclose(f);
}

uint64_t hashFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a 64
  int ch;
  while ((ch = std::fgetc(f)) != EOF) hash = (hash ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  std::fclose(f);
  return hash;
}

std::shared_ptr<CowStore> openStore(const std::string& golden, const std::string& delta, uint64_t size = 0,
                                    uint64_t quota = 0, bool readOnly = false, std::string* errorOut = nullptr) {
  CowStoreOptions options;
  options.goldenPath = golden;
  options.deltaDir = delta;
  options.sizeBytes = size;
  options.quotaBytes = quota;
  options.readOnly = readOnly;
  std::string error;
  auto store = CowStore::open(options, &error);
  if (errorOut) *errorOut = error;
  return store;
}

std::vector<uint8_t> readAll(CowStore& store, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> out(length, 0xEE);
  int rc = store.read(offset, length, out.data());
  CHECK_EQ(rc, 0);
  return out;
}

// Reads through the extents (what the transport sends with sendfile) instead of read().
std::vector<uint8_t> readViaExtents(CowStore& store, uint64_t offset, uint64_t length) {
  std::vector<FileExtent> extents;
  CHECK_EQ(store.readExtents(offset, length, extents), 0);
  std::vector<uint8_t> out;
  for (const auto& e : extents) {
    std::vector<uint8_t> piece(e.length, 0);
    if (e.fd >= 0) {
      ssize_t got = ::pread(e.fd, piece.data(), e.length, static_cast<off_t>(e.offset));
      CHECK_EQ(got, static_cast<ssize_t>(e.length));
    }
    out.insert(out.end(), piece.begin(), piece.end());
  }
  CHECK_EQ(out.size(), length);
  return out;
}

bool equalBytes(const std::vector<uint8_t>& a, size_t aOffset, const std::vector<uint8_t>& b, size_t bOffset, size_t n) {
  return std::memcmp(a.data() + aOffset, b.data() + bOffset, n) == 0;
}

// ---------------------------------------------------------------------------------------

void testTwoSeatsIsolatedAndGoldenUnchanged() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(1 << 20, 1);
  writeFile(golden, goldenBytes);
  const uint64_t goldenHash = hashFile(golden);

  auto seatA = openStore(golden, dir.path + "/a");
  auto seatB = openStore(golden, dir.path + "/b");
  CHECK(seatA && seatB);
  if (!seatA || !seatB) return;
  CHECK_EQ(seatA->sizeBytes(), uint64_t{1} << 20);

  const auto dataA = randomBytes(3 * kChunk, 2);
  const auto dataB = randomBytes(kChunk, 3);
  CHECK_EQ(seatA->write(8 * kChunk, dataA.data(), dataA.size(), false), 0);
  CHECK_EQ(seatB->write(9 * kChunk, dataB.data(), dataB.size(), true), 0);

  auto readA = readAll(*seatA, 0, 1 << 20);
  auto readB = readAll(*seatB, 0, 1 << 20);
  CHECK(equalBytes(readA, 8 * kChunk, dataA, 0, dataA.size()));
  CHECK(equalBytes(readA, 0, goldenBytes, 0, 8 * kChunk));
  CHECK(equalBytes(readA, 11 * kChunk, goldenBytes, 11 * kChunk, (1 << 20) - 11 * kChunk));
  CHECK(equalBytes(readB, 9 * kChunk, dataB, 0, kChunk));
  CHECK(equalBytes(readB, 8 * kChunk, goldenBytes, 8 * kChunk, kChunk));
  CHECK(equalBytes(readB, 10 * kChunk, goldenBytes, 10 * kChunk, kChunk));
  CHECK(readViaExtents(*seatA, 0, 1 << 20) == readA);
  CHECK(readViaExtents(*seatB, 0, 1 << 20) == readB);

  CHECK_EQ(seatA->flush(), 0);
  seatA.reset();
  seatB.reset();
  CHECK_EQ(hashFile(golden), goldenHash);
}

void testExtentsShareTheGoldenFile() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  writeFile(golden, randomBytes(256 * 1024, 4));
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  std::vector<FileExtent> extents;
  CHECK_EQ(store->readExtents(0, 256 * 1024, extents), 0);
  CHECK_EQ(extents.size(), size_t{1});  // one run straight from the golden file
  int goldenFd = extents[0].fd;
  CHECK(goldenFd >= 0);
  const auto data = randomBytes(kChunk, 5);
  CHECK_EQ(store->write(4 * kChunk, data.data(), kChunk, false), 0);
  extents.clear();
  CHECK_EQ(store->readExtents(2 * kChunk, 4 * kChunk, extents), 0);
  CHECK_EQ(extents.size(), size_t{3});  // golden, delta, golden
  if (extents.size() == 3) {
    CHECK_EQ(extents[0].fd, goldenFd);
    CHECK_EQ(extents[0].offset, 2 * kChunk);
    CHECK_EQ(extents[0].length, 2 * kChunk);
    CHECK(extents[1].fd != goldenFd && extents[1].fd >= 0);
    CHECK_EQ(extents[1].offset, 4 * kChunk);
    CHECK_EQ(extents[1].length, kChunk);
    CHECK_EQ(extents[2].fd, goldenFd);
    CHECK_EQ(extents[2].offset, 5 * kChunk);
  }
  // Sub-chunk ranges keep their exact byte offsets.
  extents.clear();
  CHECK_EQ(store->readExtents(4 * kChunk + 512, 1024, extents), 0);
  CHECK_EQ(extents.size(), size_t{1});
  if (!extents.empty()) {
    CHECK_EQ(extents[0].offset, 4 * kChunk + 512);
    CHECK_EQ(extents[0].length, 1024u);
  }
  CHECK_EQ(store->readExtents(256 * 1024 - 512, 1024, extents), -EINVAL);
  CHECK_EQ(store->readExtents(~uint64_t{0}, 2, extents), -EINVAL);
}

void testPartialChunkCopyUp() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(64 * kChunk, 6);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  // 512 bytes in the middle of chunk 3.
  const auto small = randomBytes(512, 7);
  CHECK_EQ(store->write(3 * kChunk + 1024, small.data(), small.size(), false), 0);
  auto chunk3 = readAll(*store, 3 * kChunk, kChunk);
  CHECK(equalBytes(chunk3, 0, goldenBytes, 3 * kChunk, 1024));
  CHECK(equalBytes(chunk3, 1024, small, 0, 512));
  CHECK(equalBytes(chunk3, 1536, goldenBytes, 3 * kChunk + 1536, kChunk - 1536));
  // A second partial write into the now-owned chunk must not copy golden over the first.
  const auto small2 = randomBytes(512, 8);
  CHECK_EQ(store->write(3 * kChunk, small2.data(), small2.size(), false), 0);
  chunk3 = readAll(*store, 3 * kChunk, kChunk);
  CHECK(equalBytes(chunk3, 0, small2, 0, 512));
  CHECK(equalBytes(chunk3, 1024, small, 0, 512));
  // Unaligned write spanning three chunks: tail of 9, all of 10, head of 11.
  const auto span = randomBytes(kChunk + 1024, 9);
  CHECK_EQ(store->write(10 * kChunk - 512, span.data(), span.size(), false), 0);
  auto region = readAll(*store, 9 * kChunk, 3 * kChunk);
  CHECK(equalBytes(region, 0, goldenBytes, 9 * kChunk, kChunk - 512));
  CHECK(equalBytes(region, kChunk - 512, span, 0, span.size()));
  CHECK(equalBytes(region, 2 * kChunk + 512, goldenBytes, 11 * kChunk + 512, kChunk - 512));
  CHECK(readViaExtents(*store, 9 * kChunk, 3 * kChunk) == region);
  // The golden file was only read.
  std::vector<uint8_t> onDisk(goldenBytes.size());
  int fd = ::open(golden.c_str(), O_RDONLY);
  CHECK(::pread(fd, onDisk.data(), onDisk.size(), 0) == static_cast<ssize_t>(onDisk.size()));
  ::close(fd);
  CHECK(onDisk == goldenBytes);
}

void testResetIsFastAndBringsGoldenBack() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const uint64_t size = uint64_t{100} << 30;  // 100 GiB, sparse
  {
    int fd = ::open(golden.c_str(), O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    const char mark[] = "golden-mark";
    CHECK(::pwrite(fd, mark, sizeof(mark), static_cast<off_t>(size - kChunk)) == sizeof(mark));
    ::close(fd);
  }
  const std::string deltaDir = dir.path + "/d";
  auto store = openStore(golden, deltaDir);
  CHECK(store != nullptr);
  if (!store) return;
  const auto data = randomBytes(1 << 20, 10);
  for (uint64_t at : {uint64_t{0}, uint64_t{50} << 30, size - (1 << 20)}) {
    CHECK_EQ(store->write(at, data.data(), data.size(), false), 0);
  }
  CHECK_EQ(store->flush(), 0);
  CHECK(store->deltaBytesUsed() >= 3 * data.size());
  auto start = std::chrono::steady_clock::now();
  CHECK_EQ(store->reset(), 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  reset of a 100 GiB disk with 3 MiB written: %.3f s\n", seconds);
  // Structural check instead of a timing assertion (speed goals live in bench/): the delta
  // holds no blocks at all after reset, so reset cannot have copied anything.
  CHECK_EQ(store->deltaBytesUsed(), uint64_t{0});
  auto tail = readAll(*store, size - kChunk, kChunk);
  CHECK(std::memcmp(tail.data(), "golden-mark", 12) == 0);
  auto head = readAll(*store, 0, kChunk);
  CHECK(std::all_of(head.begin(), head.end(), [](uint8_t b) { return b == 0; }));
  // Still true after reopening: the cleared map was made durable.
  store.reset();
  store = openStore(golden, deltaDir);
  CHECK(store != nullptr);
  if (!store) return;
  auto middle = readAll(*store, uint64_t{50} << 30, kChunk);
  CHECK(std::all_of(middle.begin(), middle.end(), [](uint8_t b) { return b == 0; }));
  struct stat st;
  CHECK_EQ(::stat((deltaDir + "/delta.map").c_str(), &st), 0);
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 < (uint64_t{1} << 20));  // map is sparse again
}

// Runs `body` in a child process that then dies by SIGKILL (no destructors, no flush).
void runAndKill(const std::function<void()>& body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::kill(::getpid(), SIGKILL);
    ::_exit(3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

void testFlushedWritesSurviveKill() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(256 * kChunk, 11);
  writeFile(golden, goldenBytes);
  const std::string deltaDir = dir.path + "/d";
  const auto flushed = randomBytes(16 * kChunk, 12);
  const auto fuaData = randomBytes(kChunk, 13);
  const auto unflushed = randomBytes(16 * kChunk, 14);
  runAndKill([&]() {
    auto store = openStore(golden, deltaDir);
    if (!store) ::_exit(4);
    store->write(0, flushed.data(), flushed.size(), false);
    store->flush();
    store->write(100 * kChunk, fuaData.data(), fuaData.size(), true);
    store->write(200 * kChunk + 100, unflushed.data(), unflushed.size() - 200, false);
  });
  std::string error;
  auto store = openStore(golden, deltaDir, 0, 0, false, &error);
  CHECK(store != nullptr);
  if (!store) {
    std::fprintf(stderr, "  reopen failed: %s\n", error.c_str());
    return;
  }
  auto all = readAll(*store, 0, goldenBytes.size());
  CHECK(equalBytes(all, 0, flushed, 0, flushed.size()));
  CHECK(equalBytes(all, 100 * kChunk, fuaData, 0, kChunk));
  // Unflushed chunks: each reads either entirely as before or entirely as written (a chunk
  // is owned only once its whole merged content was written), never anything else.
  for (uint64_t chunk = 200; chunk < 217; ++chunk) {
    uint64_t base = chunk * kChunk;
    bool asGolden = equalBytes(all, base, goldenBytes, base, kChunk);
    std::vector<uint8_t> expected(goldenBytes.begin() + base, goldenBytes.begin() + base + kChunk);
    uint64_t writeStart = 200 * kChunk + 100, writeEnd = writeStart + unflushed.size() - 200;
    for (uint64_t i = 0; i < kChunk; ++i) {
      uint64_t at = base + i;
      if (at >= writeStart && at < writeEnd) expected[i] = unflushed[at - writeStart];
    }
    bool asWritten = equalBytes(all, base, expected, 0, kChunk);
    CHECK(asGolden || asWritten);
  }
  CHECK(equalBytes(all, 50 * kChunk, goldenBytes, 50 * kChunk, 50 * kChunk));
}

void testKillWithoutFlushIsConsistent() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(128 * kChunk, 15);
  writeFile(golden, goldenBytes);
  const std::string deltaDir = dir.path + "/d";
  const auto data = randomBytes(128 * kChunk, 16);
  runAndKill([&]() {
    auto store = openStore(golden, deltaDir);
    if (!store) ::_exit(4);
    for (uint64_t chunk = 0; chunk < 128; chunk += 2) store->write(chunk * kChunk, data.data() + chunk * kChunk, kChunk, false);
  });
  auto store = openStore(golden, deltaDir);
  CHECK(store != nullptr);
  if (!store) return;
  auto all = readAll(*store, 0, goldenBytes.size());
  for (uint64_t chunk = 0; chunk < 128; ++chunk) {
    uint64_t base = chunk * kChunk;
    bool asGolden = equalBytes(all, base, goldenBytes, base, kChunk);
    bool asWritten = chunk % 2 == 0 && equalBytes(all, base, data, base, kChunk);
    CHECK(asGolden || asWritten);
  }
  // The reopened delta is fully usable.
  CHECK_EQ(store->write(kChunk, data.data(), kChunk, true), 0);
  CHECK(equalBytes(readAll(*store, kChunk, kChunk), 0, data, 0, kChunk));
}

void testQuotaIsRefusedWithItsOwnCodeWithoutDamage() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(1 << 20, 17);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d", 0, 16 * kChunk);
  CHECK(store != nullptr);
  if (!store) return;
  const auto data = randomBytes(32 * kChunk, 18);
  CHECK_EQ(store->write(0, data.data(), 16 * kChunk, false), 0);
  CHECK(store->deltaBytesUsed() <= 16 * kChunk);
  // The seat's quota has its own code (-EDQUOT), never the file system's -ENOSPC.
  CHECK_EQ(kSeatQuotaExceeded, -EDQUOT);
  CHECK_EQ(store->write(64 * kChunk, data.data(), kChunk, false), kSeatQuotaExceeded);
  CHECK_EQ(store->write(63 * kChunk + 512, data.data(), 1024, false), kSeatQuotaExceeded);  // needs 2 new chunks
  CHECK_EQ(store->writeZeroes(64 * kChunk + 512, 512, false), kSeatQuotaExceeded);          // a partial chunk is a write
  uint64_t mismatch = 0;
  CHECK_EQ(store->compareAndWrite(64 * kChunk, goldenBytes.data() + 64 * kChunk, data.data(), 512, false, &mismatch),
           kSeatQuotaExceeded);
  // The failed writes changed nothing; rewriting owned chunks still works.
  CHECK(equalBytes(readAll(*store, 63 * kChunk, 2 * kChunk), 0, goldenBytes, 63 * kChunk, 2 * kChunk));
  const auto again = randomBytes(2 * kChunk, 19);
  CHECK_EQ(store->write(kChunk, again.data(), again.size(), true), 0);
  auto head = readAll(*store, 0, 16 * kChunk);
  CHECK(equalBytes(head, 0, data, 0, kChunk));
  CHECK(equalBytes(head, kChunk, again, 0, again.size()));
  CHECK(equalBytes(head, 3 * kChunk, data, 3 * kChunk, 13 * kChunk));
  // Freeing space (discard) lets new writes in again.
  CHECK_EQ(store->discard(0, 8 * kChunk), 0);
  CHECK_EQ(store->write(64 * kChunk, data.data(), kChunk, false), 0);
}

// The quota of an open store changes in place (a seat's PC stays connected): lowered below
// what the delta holds, new chunks are refused and owned ones still rewrite; raised or
// cleared, new chunks fit again.
void testQuotaChangesOnAnOpenStore() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  writeFile(golden, randomBytes(1 << 20, 21));
  auto store = openStore(golden, dir.path + "/d", 0, 0);
  CHECK(store != nullptr);
  if (!store) return;
  const auto data = randomBytes(8 * kChunk, 22);
  CHECK_EQ(store->write(0, data.data(), 8 * kChunk, false), 0);
  store->setQuotaBytes(4 * kChunk);
  CHECK_EQ(store->write(20 * kChunk, data.data(), kChunk, false), kSeatQuotaExceeded);
  CHECK_EQ(store->write(2 * kChunk, data.data(), kChunk, false), 0);  // owned: no new space
  store->setQuotaBytes(9 * kChunk);
  CHECK_EQ(store->write(20 * kChunk, data.data(), kChunk, false), 0);
  CHECK_EQ(store->write(21 * kChunk, data.data(), kChunk, false), kSeatQuotaExceeded);
  store->setQuotaBytes(0);
  CHECK_EQ(store->write(21 * kChunk, data.data(), 4 * kChunk, false), 0);
}

void testCompareAndWrite() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(16 * kChunk, 31);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  const auto replacement = randomBytes(512, 32);
  uint64_t mismatch = 99;
  CHECK_EQ(store->compareAndWrite(kChunk + 512, goldenBytes.data() + kChunk + 512, replacement.data(), 512, false, &mismatch), 0);
  CHECK(equalBytes(readAll(*store, kChunk + 512, 512), 0, replacement, 0, 512));
  std::vector<uint8_t> expected(goldenBytes.begin() + kChunk + 512, goldenBytes.begin() + kChunk + 1024);
  CHECK_EQ(store->compareAndWrite(kChunk + 512, expected.data(), replacement.data(), 512, false, &mismatch), -EILSEQ);
  size_t firstDifference = 0;
  while (firstDifference < 512 && expected[firstDifference] == replacement[firstDifference]) ++firstDifference;
  CHECK_EQ(mismatch, uint64_t{firstDifference});
  CHECK_EQ(store->compareAndWrite(16 * kChunk - 256, expected.data(), replacement.data(), 512, false, &mismatch), -EINVAL);
}

void testDiscardAndWriteZeroes() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(64 * kChunk, 20);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  const auto data = randomBytes(8 * kChunk, 21);
  CHECK_EQ(store->write(8 * kChunk, data.data(), data.size(), false), 0);
  uint64_t usedBefore = store->deltaBytesUsed();
  // Covers the second half of chunk 8, all of 9..10, and half of 11.
  CHECK_EQ(store->discard(8 * kChunk + 2048, 3 * kChunk), 0);
  auto region = readAll(*store, 8 * kChunk, 8 * kChunk);
  CHECK(equalBytes(region, 0, data, 0, kChunk));                              // partial: kept
  CHECK(equalBytes(region, kChunk, goldenBytes, 9 * kChunk, 2 * kChunk));     // dropped: golden
  CHECK(equalBytes(region, 3 * kChunk, data, 3 * kChunk, 5 * kChunk));        // partial + untouched
  CHECK(store->deltaBytesUsed() < usedBefore);
  CHECK(readViaExtents(*store, 8 * kChunk, 8 * kChunk) == region);

  // Zeroing whole chunks costs no delta space and reads zeros (not golden).
  uint64_t usedBeforeZero = store->deltaBytesUsed();
  CHECK_EQ(store->writeZeroes(20 * kChunk + 512, 10 * kChunk, false), 0);
  auto zeros = readAll(*store, 20 * kChunk, 11 * kChunk);
  CHECK(equalBytes(zeros, 0, goldenBytes, 20 * kChunk, 512));
  CHECK(std::all_of(zeros.begin() + 512, zeros.begin() + 512 + 10 * kChunk, [](uint8_t b) { return b == 0; }));
  CHECK(equalBytes(zeros, 512 + 10 * kChunk, goldenBytes, 30 * kChunk + 512, kChunk - 512));
  CHECK(store->deltaBytesUsed() <= usedBeforeZero + 2 * kChunk);  // only the two edge chunks
  CHECK(readViaExtents(*store, 20 * kChunk, 11 * kChunk) == zeros);
}

void testBlankDiskAndOddSizes() {
  TempDir dir;
  auto store = openStore("", dir.path + "/d", 10 * kChunk + 512);
  CHECK(store != nullptr);
  if (!store) return;
  CHECK_EQ(store->sizeBytes(), 10 * kChunk + 512);
  std::vector<FileExtent> extents;
  CHECK_EQ(store->readExtents(0, store->sizeBytes(), extents), 0);
  CHECK_EQ(extents.size(), size_t{1});
  if (!extents.empty()) CHECK(extents[0].fd < 0);  // zeros, nothing behind them
  auto zeros = readAll(*store, 0, store->sizeBytes());
  CHECK(std::all_of(zeros.begin(), zeros.end(), [](uint8_t b) { return b == 0; }));
  // The last chunk is only 512 bytes long: a partial write there must stay in bounds.
  const auto data = randomBytes(512, 22);
  CHECK_EQ(store->write(10 * kChunk, data.data(), 512, true), 0);
  CHECK(equalBytes(readAll(*store, 10 * kChunk, 512), 0, data, 0, 512));
  CHECK_EQ(store->write(10 * kChunk + 512, data.data(), 512, false), -EINVAL);
  CHECK_EQ(store->discard(10 * kChunk, 512), 0);  // the short last chunk counts as whole
  CHECK(std::all_of(readAll(*store, 10 * kChunk, 512).begin(), readAll(*store, 10 * kChunk, 512).end(),
                    [](uint8_t b) { return b == 0; }));

  std::string error;
  CHECK(openStore("", dir.path + "/e", 1000, 0, false, &error) == nullptr);  // not a multiple of 512
  CHECK(!error.empty());
  CHECK(openStore("", dir.path + "/f", 0, 0, false, &error) == nullptr);     // no size at all
  CHECK(openStore(dir.path + "/missing.img", dir.path + "/g", 0, 0, false, &error) == nullptr);

  // Golden shorter than the disk: the rest reads as zeros.
  const std::string golden = dir.path + "/short.img";
  writeFile(golden, randomBytes(3 * kChunk, 23));
  auto longer = openStore(golden, dir.path + "/h", 8 * kChunk);
  CHECK(longer != nullptr);
  if (longer) {
    auto tail = readViaExtents(*longer, 2 * kChunk, 6 * kChunk);
    CHECK(std::all_of(tail.begin() + kChunk, tail.end(), [](uint8_t b) { return b == 0; }));
    const auto part = randomBytes(512, 24);
    CHECK_EQ(longer->write(4 * kChunk + 512, part.data(), 512, false), 0);  // copy-up past golden EOF
    auto chunk4 = readAll(*longer, 4 * kChunk, kChunk);
    CHECK(chunk4[0] == 0 && chunk4[511] == 0 && equalBytes(chunk4, 512, part, 0, 512));
  }
}

void testIdentityAndHeaderValidation() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  writeFile(golden, randomBytes(16 * kChunk, 25));
  const std::string deltaDir = dir.path + "/d";
  {
    auto store = openStore(golden, deltaDir);
    CHECK(store != nullptr);
    // One writer per delta.
    std::string error;
    CHECK(openStore(golden, deltaDir, 0, 0, false, &error) == nullptr);
    CHECK(error.find("in use") != std::string::npos);
  }
  // Another golden (new mtime) is refused.
  struct timespec times[2] = {{0, UTIME_OMIT}, {1234567, 0}};
  CHECK_EQ(::utimensat(AT_FDCWD, golden.c_str(), times, 0), 0);
  std::string error;
  CHECK(openStore(golden, deltaDir, 0, 0, false, &error) == nullptr);
  CHECK(error.find("another golden") != std::string::npos);
  // A different disk size is refused.
  const std::string deltaDir2 = dir.path + "/d2";
  CHECK(openStore(golden, deltaDir2) != nullptr);
  CHECK(openStore(golden, deltaDir2, 8 * kChunk, 0, false, &error) == nullptr);
  // A caller-given id replaces the file identity.
  CowStoreOptions options;
  options.goldenPath = golden;
  options.deltaDir = dir.path + "/d3";
  options.goldenId = "image-7-version-3";
  CHECK(CowStore::open(options, &error) != nullptr);
  options.goldenId = "image-7-version-4";
  CHECK(CowStore::open(options, &error) == nullptr);
  // A corrupted header is refused with a reason, not trusted.
  const std::string mapPath = deltaDir2 + "/delta.map";
  int fd = ::open(mapPath.c_str(), O_RDWR);
  uint8_t byte = 0x5A;
  CHECK(::pwrite(fd, &byte, 1, 20) == 1);
  ::close(fd);
  CHECK(openStore(golden, deltaDir2, 0, 0, false, &error) == nullptr);
  CHECK(error.find("CRC") != std::string::npos);
  // Header codec: round trip, and truncated input is refused.
  lanboot::cow::MapHeader header;
  header.diskSizeBytes = 1 << 20;
  header.goldenIdentity = "x";
  uint8_t encoded[lanboot::cow::kMapHeaderEncodedSize];
  lanboot::cow::encodeMapHeader(header, encoded);
  lanboot::cow::MapHeader decoded;
  CHECK(lanboot::cow::decodeMapHeader(encoded, sizeof(encoded), &decoded, &error));
  CHECK_EQ(decoded.diskSizeBytes, uint64_t{1} << 20);
  CHECK(decoded.goldenIdentity == "x");
  CHECK(!lanboot::cow::decodeMapHeader(encoded, sizeof(encoded) - 1, &decoded, &error));
}

void testInterruptedResetAndReadOnly() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(64 * kChunk, 26);
  writeFile(golden, goldenBytes);
  const std::string deltaDir = dir.path + "/d";
  const auto data = randomBytes(kChunk, 27);
  {
    auto store = openStore(golden, deltaDir);
    CHECK(store && store->write(5 * kChunk, data.data(), kChunk, true) == 0);
  }
  // What a crash right after reset's first step leaves: a map cut to its header.
  CHECK_EQ(::truncate((deltaDir + "/delta.map").c_str(), 4096), 0);
  auto store = openStore(golden, deltaDir);
  CHECK(store != nullptr);
  if (!store) return;
  CHECK(equalBytes(readAll(*store, 5 * kChunk, kChunk), 0, goldenBytes, 5 * kChunk, kChunk));
  CHECK_EQ(store->write(6 * kChunk, data.data(), kChunk, true), 0);
  store.reset();

  auto readOnly = openStore(golden, deltaDir, 0, 0, true);
  CHECK(readOnly != nullptr);
  if (!readOnly) return;
  CHECK(readOnly->readOnly());
  CHECK(equalBytes(readAll(*readOnly, 6 * kChunk, kChunk), 0, data, 0, kChunk));
  CHECK_EQ(readOnly->write(0, data.data(), kChunk, false), -EROFS);
  CHECK_EQ(readOnly->discard(0, kChunk), -EROFS);
  CHECK_EQ(readOnly->reset(), -EROFS);
  auto pureGolden = openStore(golden, "", 0, 0, true);  // no delta at all
  CHECK(pureGolden != nullptr);
  if (pureGolden) CHECK(equalBytes(readAll(*pureGolden, 0, kChunk), 0, goldenBytes, 0, kChunk));
}

void testConcurrentWritersAndReaders() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(512 * kChunk, 28);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  // Writers do 512-byte writes (every one a copy-up race candidate) into shared chunks;
  // thread t owns sector t of every chunk, so the final content is fully determined.
  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> readerErrors{0};
  std::thread reader([&]() {
    std::vector<uint8_t> buffer(64 * kChunk);
    while (!stop.load()) {
      if (store->read(0, buffer.size(), buffer.data()) != 0) ++readerErrors;
      std::vector<FileExtent> extents;
      if (store->readExtents(0, 512 * kChunk, extents) != 0) ++readerErrors;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t]() {
      std::vector<uint8_t> sector(512, static_cast<uint8_t>(0xA0 + t));
      for (uint64_t chunk = 0; chunk < 128; ++chunk) store->write(chunk * kChunk + t * 512, sector.data(), 512, chunk % 16 == 0);
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  CHECK_EQ(readerErrors.load(), 0);
  auto all = readAll(*store, 0, 128 * kChunk);
  bool ok = true;
  for (uint64_t chunk = 0; chunk < 128; ++chunk) {
    for (int t = 0; t < kThreads; ++t)
      for (int i = 0; i < 512; ++i) ok = ok && all[chunk * kChunk + t * 512 + i] == 0xA0 + t;
    ok = ok && equalBytes(all, chunk * kChunk + kThreads * 512, goldenBytes, chunk * kChunk + kThreads * 512,
                          kChunk - kThreads * 512);
  }
  CHECK(ok);
}

// The file system itself runs out of space (not our quota): a 256 KiB tmpfs mounted in a
// private mount namespace of a child process, so nothing outside the test sees it (the mount
// goes away with the child however it ends). The store has a quota far above the tmpfs size,
// so the refusal must be the file system's -ENOSPC, not kSeatQuotaExceeded.
void testFileSystemFullReturnsEnospc() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(1 << 20, 29);
  writeFile(golden, goldenBytes);
  const std::string mountPoint = dir.path + "/small";
  CHECK_EQ(::mkdir(mountPoint.c_str(), 0700), 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Exit codes tell the parent which step failed.
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
    if (::mount("tmpfs", mountPoint.c_str(), "tmpfs", 0, "size=256k") != 0) ::_exit(12);
    auto store = openStore(golden, mountPoint + "/d", 0, 1ull << 30);
    if (!store) ::_exit(13);
    const auto data = randomBytes(1 << 20, 30);
    uint64_t written = 0;
    int rc = 0;
    for (; written < (1 << 20); written += 16 * kChunk) {
      rc = store->write(written, data.data() + written, 16 * kChunk, false);
      if (rc != 0) break;
    }
    if (rc != -ENOSPC) ::_exit(14);
    if (written == 0) ::_exit(15);
    std::vector<uint8_t> back(1 << 20);
    if (store->read(0, back.size(), back.data()) != 0) ::_exit(16);
    // Everything acknowledged reads back; the failed write and beyond still read golden.
    if (std::memcmp(back.data(), data.data(), written) != 0) ::_exit(17);
    if (std::memcmp(back.data() + written, goldenBytes.data() + written, (1 << 20) - written) != 0) ::_exit(18);
    if (store->flush() != 0) ::_exit(19);
    // Freed space (discard) makes room again.
    if (store->discard(0, written) != 0) ::_exit(20);
    if (store->write(written, data.data() + written, kChunk, true) != 0) ::_exit(21);
    store.reset();
    ::umount(mountPoint.c_str());
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
}

// A golden file cut short under an open store (a failing or tampered disk): its blocks must
// read as an error, never as zeros, and a copy-up over them must fail instead of writing zeros
// into the delta. Blocks the seat owns, and golden blocks still there, keep reading.
void testGoldenCutUnderTheStoreIsAnError() {
  TempDir dir;
  const std::string golden = dir.path + "/golden.img";
  const auto goldenBytes = randomBytes(1 << 20, 41);
  writeFile(golden, goldenBytes);
  auto store = openStore(golden, dir.path + "/d");
  CHECK(store != nullptr);
  if (!store) return;
  const auto owned = randomBytes(kChunk, 42);
  CHECK_EQ(store->write(900 * 1024, owned.data(), kChunk, true), 0);
  CHECK_EQ(::truncate(golden.c_str(), 512 * 1024), 0);
  std::vector<uint8_t> out(kChunk, 0xEE);
  CHECK_EQ(store->read(600 * 1024, kChunk, out.data()), -EIO);
  CHECK_EQ(store->read(508 * 1024, 8 * 1024, out.data()), -EIO);  // straddles the cut
  CHECK(readAll(*store, 0, kChunk) == std::vector<uint8_t>(goldenBytes.begin(), goldenBytes.begin() + kChunk));
  CHECK(readAll(*store, 900 * 1024, kChunk) == owned);
  // A partial-chunk write needs the rest of the chunk from golden: refused, nothing owned.
  const uint64_t usedBefore = store->deltaBytesUsed();
  CHECK_EQ(store->write(700 * 1024 + 512, owned.data(), 512, false), -EIO);
  CHECK_EQ(store->deltaBytesUsed(), usedBefore);
  CHECK_EQ(store->read(700 * 1024, kChunk, out.data()), -EIO);
  // A whole-chunk write needs nothing from golden: the seat can still overwrite the block.
  CHECK_EQ(store->write(800 * 1024, owned.data(), kChunk, true), 0);
  CHECK(readAll(*store, 800 * 1024, kChunk) == owned);
}

}  // namespace

int main() {
  // One line per case as it starts, also into a pipe: a hang shows where it is.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  struct Case {
    const char* name;
    void (*run)();
  } cases[] = {
      {"two seats isolated, golden unchanged", testTwoSeatsIsolatedAndGoldenUnchanged},
      {"extents share the golden file", testExtentsShareTheGoldenFile},
      {"partial chunk copy-up", testPartialChunkCopyUp},
      {"reset is O(1) and brings golden back (100 GiB)", testResetIsFastAndBringsGoldenBack},
      {"flushed and FUA writes survive SIGKILL", testFlushedWritesSurviveKill},
      {"SIGKILL without flush leaves a consistent delta", testKillWithoutFlushIsConsistent},
      {"quota -> kSeatQuotaExceeded without damage", testQuotaIsRefusedWithItsOwnCodeWithoutDamage},
      {"quota changed on an open store", testQuotaChangesOnAnOpenStore},
      {"discard and write zeroes", testDiscardAndWriteZeroes},
      {"compare and write", testCompareAndWrite},
      {"blank disk and odd sizes", testBlankDiskAndOddSizes},
      {"golden identity and header validation", testIdentityAndHeaderValidation},
      {"interrupted reset and read-only", testInterruptedResetAndReadOnly},
      {"concurrent writers and readers", testConcurrentWritersAndReaders},
      {"file system full -> -ENOSPC, data intact", testFileSystemFullReturnsEnospc},
      {"golden cut under the store -> -EIO, never zeros", testGoldenCutUnderTheStoreIsAnError},
  };
  for (const auto& c : cases) {
    int before = failures;
    std::printf("cow_store: %s\n", c.name);
    c.run();
    if (failures != before) std::printf("  FAILED (%d checks)\n", failures - before);
  }
  std::printf("cow_store: %s (%d failed checks)\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
