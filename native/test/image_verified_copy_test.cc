// The import copy (image/verified_copy.h) against real files: the copy equals the source,
// zero blocks stay holes, the digest is the source's SHA-256, and a short source, a used
// destination or a cancel each end it with their own code.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "common/digest.h"
#include "image/verified_copy.h"

using lanboot::image::VerifiedCopyHooks;
using lanboot::image::VerifiedCopyResult;
using lanboot::image::verifiedSparseCopy;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/lanboot-copy-test-XXXXXX";
    char* made = ::mkdtemp(pattern);
    if (made == nullptr) {
      std::perror("mkdtemp");
      std::exit(2);
    }
    path = made;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

void writeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::vector<uint8_t> readFile(const std::string& path) {
  std::vector<uint8_t> bytes;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return bytes;
  struct stat st;
  ::fstat(fd, &st);
  bytes.resize(static_cast<size_t>(st.st_size));
  CHECK_EQ(::pread(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return bytes;
}

// The digest common_digest_test checks against FIPS 180-2; "failed" never equals a result.
std::string sha256HexOf(const std::vector<uint8_t>& bytes) {
  auto digest = lanboot::common::Sha256::digest(bytes.data(), bytes.size());
  return digest ? lanboot::common::Sha256::hex(*digest) : "failed";
}

void touch(const std::string& path) { ::close(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)); }

// 10 MiB + 5000 bytes: data, a 3 MiB zero run across a chunk boundary, single data bytes
// inside otherwise zero blocks, and a tail that is not a whole block.
std::vector<uint8_t> sampleDisk(uint64_t* nonZeroBlocksBytes) {
  std::vector<uint8_t> bytes((10u << 20) + 5000);
  std::mt19937 random(11);
  for (auto& b : bytes) b = uint8_t(random() | 1);
  std::memset(bytes.data() + (3u << 20), 0, 3u << 20);
  bytes[(3u << 20) + 4096 * 7 + 100] = 0x5a;  // one block inside the zero run has data
  std::memset(bytes.data() + (9u << 20), 0, 1u << 20);
  *nonZeroBlocksBytes = bytes.size() - (3u << 20) + 4096 - (1u << 20);
  return bytes;
}

void copiesHashesAndKeepsHoles() {
  TempDir dir;
  uint64_t nonZero = 0;
  std::vector<uint8_t> source = sampleDisk(&nonZero);
  writeFile(dir.path + "/src", source);
  touch(dir.path + "/dst");
  std::vector<uint64_t> reported;
  VerifiedCopyHooks hooks;
  hooks.progress = [&](uint64_t done) { reported.push_back(done); };
  VerifiedCopyResult result;
  std::string error;
  int rc = verifiedSparseCopy(dir.path + "/src", dir.path + "/dst", source.size(), hooks, &result, &error);
  if (rc != 0) std::fprintf(stderr, "copy failed: %s\n", error.c_str());
  CHECK_EQ(rc, 0);
  CHECK(readFile(dir.path + "/dst") == source);
  CHECK(result.sha256 == sha256HexOf(source));
  CHECK_EQ(result.dataBytes, nonZero);
  struct stat st;
  CHECK_EQ(::stat((dir.path + "/dst").c_str(), &st), 0);
  // The zero runs (4 MiB less one block) are not allocated.
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 <= nonZero + 64 * 1024);
  CHECK(!reported.empty());
  for (size_t i = 1; i < reported.size(); ++i) CHECK(reported[i] >= reported[i - 1]);
  CHECK_EQ(reported.back(), source.size());
}

void aPrefixOfALongerSource() {
  TempDir dir;
  uint64_t nonZero = 0;
  std::vector<uint8_t> source = sampleDisk(&nonZero);
  writeFile(dir.path + "/src", source);
  touch(dir.path + "/dst");
  VerifiedCopyResult result;
  CHECK_EQ(verifiedSparseCopy(dir.path + "/src", dir.path + "/dst", 1u << 20, {}, &result, nullptr), 0);
  std::vector<uint8_t> prefix(source.begin(), source.begin() + (1u << 20));
  CHECK(readFile(dir.path + "/dst") == prefix);
  CHECK(result.sha256 == sha256HexOf(prefix));
}

// A sparse source file: its holes are not read (SEEK_DATA) but come out as zeros, hashed
// and left as holes; a hole running to the end of a file shorter than asked is "ended".
void sparseSource() {
  TempDir dir;
  std::string src = dir.path + "/src";
  std::vector<uint8_t> expected((12u << 20) + 512, 0);
  std::mt19937 random(5);
  for (size_t i = 0; i < (1u << 20); ++i) expected[i] = uint8_t(random());
  for (size_t i = 9u << 20; i < (10u << 20) + 100; ++i) expected[i] = uint8_t(random());
  int fd = ::open(src.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK_EQ(::pwrite(fd, expected.data(), 1u << 20, 0), static_cast<ssize_t>(1u << 20));
  CHECK_EQ(::pwrite(fd, expected.data() + (9u << 20), (1u << 20) + 100, 9u << 20), static_cast<ssize_t>((1u << 20) + 100));
  CHECK_EQ(::ftruncate(fd, static_cast<off_t>(expected.size())), 0);
  ::close(fd);
  touch(dir.path + "/dst");
  VerifiedCopyResult result;
  std::string error;
  CHECK_EQ(verifiedSparseCopy(src, dir.path + "/dst", expected.size(), {}, &result, &error), 0);
  CHECK(readFile(dir.path + "/dst") == expected);
  CHECK(result.sha256 == sha256HexOf(expected));
  CHECK_EQ(result.dataBytes, (2u << 20) + 4096);  // the partial last data block is written whole
  touch(dir.path + "/dst2");
  CHECK_EQ(verifiedSparseCopy(src, dir.path + "/dst2", 13u << 20, {}, nullptr, &error), lanboot::image::kSourceEndedEarly);
  CHECK(error.find("ended after " + std::to_string(expected.size()) + " of") != std::string::npos);
}

void refusesAShortSource() {
  TempDir dir;
  writeFile(dir.path + "/src", std::vector<uint8_t>(5u << 20, 7));
  touch(dir.path + "/dst");
  std::string error;
  CHECK_EQ(verifiedSparseCopy(dir.path + "/src", dir.path + "/dst", 6u << 20, {}, nullptr, &error),
           lanboot::image::kSourceEndedEarly);
  CHECK(error.find("ended after 5242880 of 6291456 bytes") != std::string::npos);
}

void neverOverwritesAFileWithContent() {
  TempDir dir;
  writeFile(dir.path + "/src", std::vector<uint8_t>(8192, 1));
  writeFile(dir.path + "/dst", std::vector<uint8_t>(100, 9));
  CHECK_EQ(verifiedSparseCopy(dir.path + "/src", dir.path + "/dst", 8192, {}, nullptr, nullptr), -EEXIST);
  CHECK(readFile(dir.path + "/dst") == std::vector<uint8_t>(100, 9));
  CHECK_EQ(verifiedSparseCopy(dir.path + "/missing", dir.path + "/dst2", 8192, {}, nullptr, nullptr), -ENOENT);
}

void stopsWhenCancelled() {
  TempDir dir;
  uint64_t nonZero = 0;
  writeFile(dir.path + "/src", sampleDisk(&nonZero));
  touch(dir.path + "/dst");
  int polls = 0;
  VerifiedCopyHooks hooks;
  hooks.cancelled = [&] { return ++polls > 1; };  // after the first chunk
  std::string error;
  CHECK_EQ(verifiedSparseCopy(dir.path + "/src", dir.path + "/dst", 10u << 20, hooks, nullptr, &error), -ECANCELED);
  CHECK_EQ(polls, 2);
}

}  // namespace

int main() {
  copiesHashesAndKeepsHoles();
  aPrefixOfALongerSource();
  sparseSource();
  refusesAShortSource();
  neverOverwritesAFileWithContent();
  stopsWhenCancelled();
  if (failures == 0) std::printf("image_verified_copy_test: ok\n");
  return failures == 0 ? 0 : 1;
}
