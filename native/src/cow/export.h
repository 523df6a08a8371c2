// Whole-disk export (maintenance/install commit) and sparse file copy (seat snapshots).
// Both keep holes: a hole in the source stays a hole in the copy (SEEK_DATA/SEEK_HOLE), and
// data moves with copy_file_range(2) so the kernel copies in place (no user-space buffer;
// reflink on file systems that can) and golden reads keep using the shared page cache.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cow/store.h"

namespace lanboot::scsi {

using ExportProgress = std::function<void(uint64_t bytesDone)>;

// Copies bytes [offset, offset+length) of srcFd to the same offsets of dstFd, leaving the
// destination untouched (so a hole, if it is a fresh sparse file) where the source has holes
// or ends before the range does. 0 or -errno.
int copyRangeSparse(int srcFd, uint64_t srcSize, int dstFd, uint64_t offset, uint64_t length);

// Opens the disk (golden + delta) read-only and writes all of it to destPath, which must not
// exist or be an empty regular file (the image store's fresh partial): sized to the disk,
// then filled and fsynced; anything else is refused with -EEXIST, never overwritten. The delta must not be
// open for writing elsewhere (the store's flock refuses it: take the target down first).
// On failure destPath is removed. 0 or -errno with `error` set.
int exportDisk(const CowStoreOptions& options, const std::string& destPath, const ExportProgress& progress,
               std::string* error);

// True when nothing holds the delta in `deltaDir` open for writing (no store has its map's
// flock), or it has no delta at all. A target taken down lets go of its store only when its
// last connection thread ends: callers poll this before touching the files.
bool deltaIsIdle(const std::string& deltaDir);

// Copies a regular file to dstPath (must not exist), keeping holes, then fsyncs it. On
// failure dstPath is removed. 0 or -errno with `error` set.
int copySparseFile(const std::string& srcPath, const std::string& dstPath, std::string* error);

}  // namespace lanboot::scsi
