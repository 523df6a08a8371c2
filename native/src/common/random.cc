#include "common/random.h"

#include <sys/random.h>

#include <cerrno>

namespace lanboot::common {

bool fillRandom(uint8_t* out, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = getrandom(out + done, length - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += size_t(got);
  }
  return true;
}

}  // namespace lanboot::common
