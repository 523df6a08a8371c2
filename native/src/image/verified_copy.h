// The copy step of a raw image import: one pass over the source that writes the image,
// checks it and hashes it, so an import costs about what a plain cp does.
//
// Each 4 MiB chunk is read once from the source (a file on the data disk, a USB stick, a
// block device); 4 KiB blocks of zeros are skipped, so they stay holes in the destination,
// which is sized first; the rest is written, started on its way to disk
// (sync_file_range), read back and compared with what was read. A second thread hashes the
// chunks (SHA-256) while the next ones are copied. The digest is that of all `length`
// bytes, which the read-back proved equal in source and destination.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>

namespace lanboot::image {

struct VerifiedCopyResult {
  std::string sha256;      // lower-case hex of the `length` bytes copied
  uint64_t dataBytes = 0;  // bytes written; the other `length - dataBytes` are holes
};

struct VerifiedCopyHooks {
  // Polled between chunks: true stops the copy with -ECANCELED.
  std::function<bool()> cancelled;
  // Bytes copied, verified and hashed so far (from the copying thread).
  std::function<void(uint64_t bytesDone)> progress;
};

// Errors besides -errno from the system calls.
constexpr int kSourceEndedEarly = -ENODATA;  // the source has fewer than `length` bytes
constexpr int kReadBackMismatch = -EILSEQ;   // the destination reads back differently

// Copies the first `length` bytes of srcPath into dstPath, which must be an empty regular
// file (the image store's fresh partial: anything else is refused with -EEXIST, never
// overwritten), then fsyncs it. 0 or a negative code with `error` set. On failure the
// destination is left for its owner to remove (the image store removes its partials).
int verifiedSparseCopy(const std::string& srcPath, const std::string& dstPath, uint64_t length,
                       const VerifiedCopyHooks& hooks, VerifiedCopyResult* result, std::string* error);

}  // namespace lanboot::image
