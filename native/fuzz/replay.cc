// A libFuzzer-compatible driver without libFuzzer, for targets that have no libFuzzer runtime
// (the arm64 cross build run under qemu-user). It replays every file of a corpus directory,
// then a given number of pseudo-random mutations of them (byte flips, truncations,
// insertions, splices), all through LLVMFuzzerTestOneInput. No coverage guidance: this is a
// smoke run that finds crashes and sanitizer reports on the inputs it makes; the guided runs
// are the native `make fuzz-smoke`.
//   replay RUNS CORPUS_DIR
#include <dirent.h>

#include <algorithm>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr size_t kMaxLength = 65536;  // as the native fuzz-smoke's -max_len

std::vector<std::vector<uint8_t>> readCorpus(const std::string& dir) {
  std::vector<std::vector<uint8_t>> inputs;
  DIR* d = opendir(dir.c_str());
  if (!d) return inputs;
  std::vector<std::string> names;
  while (dirent* entry = readdir(d)) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::ifstream file(dir + "/" + name, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (bytes.size() > kMaxLength) bytes.resize(kMaxLength);
    inputs.push_back(std::move(bytes));
  }
  return inputs;
}

std::vector<uint8_t> mutate(std::vector<uint8_t> input, const std::vector<std::vector<uint8_t>>& corpus, std::mt19937& random) {
  const int steps = 1 + int(random() % 4);
  for (int step = 0; step < steps; ++step) {
    switch (random() % 5) {
      case 0:  // flip bits of one byte
        if (!input.empty()) input[random() % input.size()] ^= uint8_t(1u << (random() % 8));
        break;
      case 1:  // set one byte to an interesting value
        if (!input.empty()) {
          static const uint8_t kValues[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
          input[random() % input.size()] = kValues[random() % sizeof kValues];
        }
        break;
      case 2:  // truncate
        if (!input.empty()) input.resize(random() % input.size());
        break;
      case 3:  // insert random bytes
        if (input.size() < kMaxLength) {
          const size_t at = input.empty() ? 0 : random() % (input.size() + 1);
          const size_t count = std::min<size_t>(1 + random() % 64, kMaxLength - input.size());
          std::vector<uint8_t> bytes(count);
          for (auto& b : bytes) b = uint8_t(random());
          input.insert(input.begin() + long(at), bytes.begin(), bytes.end());
        }
        break;
      default:  // splice the tail of another corpus entry
        if (!corpus.empty()) {
          const auto& other = corpus[random() % corpus.size()];
          if (!other.empty()) {
            const size_t from = random() % other.size();
            const size_t keep = input.empty() ? 0 : random() % input.size();
            input.resize(keep);
            input.insert(input.end(), other.begin() + long(from), other.end());
            if (input.size() > kMaxLength) input.resize(kMaxLength);
          }
        }
        break;
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s RUNS CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const long runs = std::strtol(argv[1], nullptr, 10);
  auto corpus = readCorpus(argv[2]);
  if (corpus.empty()) corpus.push_back({});
  for (const auto& input : corpus) LLVMFuzzerTestOneInput(input.data(), input.size());
  std::mt19937 random(20260101);
  for (long i = 0; i < runs; ++i) {
    const auto input = mutate(corpus[random() % corpus.size()], corpus, random);
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("replay: %zu corpus inputs and %ld mutations, no crash\n", corpus.size(), runs);
  return 0;
}
