// Reads chosen byte ranges of a file, in the order given, so they are in the page cache
// before anyone asks (the golden image's boot set before a room boots). Plain reads on the
// caller's thread: unlike posix_fadvise(WILLNEED), they finish in order and tell when done.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lanboot::system {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Reads `ranges` of `path` in order, at most `maxBytes` in total (ranges past the end of
// the file are clipped). Stops early, returning -ECANCELED, once `cancelled()` is true
// (checked between reads of at most 1 MiB). Returns 0 or -errno with `error` set;
// `bytesRead` is what was read either way.
int prewarmRanges(const std::string& path, const std::vector<ByteRange>& ranges, uint64_t maxBytes,
                  const std::function<bool()>& cancelled, uint64_t* bytesRead, std::string* error);

}  // namespace lanboot::system
