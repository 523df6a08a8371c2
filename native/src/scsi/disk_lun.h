// The disk LUN's advertised limits, shared by the executor (disk_lun.cc) and its tests.
// makeDiskLun() itself is declared in scsi/lun.h.
#pragma once

#include <cstdint>

namespace lanboot::scsi::disk {

constexpr uint32_t kLogicalBlockSize = 512;           // BIOS INT13 needs 512-byte blocks
constexpr uint8_t kLogicalPerPhysicalExponent = 3;   // 4 KiB physical blocks (= COW chunk)
// Block limits VPD (SBC-3 6.6.4). The transport buffers a command's Data-Out in memory, so
// the maximum transfer length also bounds per-command memory: 8192 blocks = 4 MiB.
constexpr uint32_t kMaxTransferBlocks = 8192;
// READ data never passes through memory (FileExtents sent with sendfile), so reads may be
// longer than the advertised limit: iPXE never asks for the Block Limits page and, under UEFI,
// passes a boot loader's one ReadBlocks call (an 8 MiB kernel, say) through as one READ.
// The cap bounds the extent list of one command (at most one extent per 4 KiB chunk).
constexpr uint32_t kMaxReadBlocks = 1u << 21;          // 1 GiB
constexpr uint32_t kOptimalTransferBlocks = 2048;      // 1 MiB
constexpr uint32_t kOptimalGranularityBlocks = 8;      // one 4 KiB chunk
// libiscsi's test_inquiry_block_limits insists on <= 1M blocks (or 0xFFFFFFFF = no limit).
constexpr uint32_t kMaxUnmapBlocks = 1u << 20;         // 512 MiB per UNMAP command
constexpr uint32_t kMaxUnmapDescriptors = 256;
constexpr uint32_t kUnmapGranularityBlocks = 8;        // below a chunk nothing can be dropped
// Below 65536: libiscsi's WriteSame16.Unmap then expects a 65536-block WRITE SAME to fail
// instead of writing 65536 blocks with WRITE(16) first, which our transfer limit refuses.
constexpr uint32_t kMaxWriteSameBlocks = 32768;        // 16 MiB
constexpr uint32_t kMaxPrefetchBlocks = kMaxTransferBlocks;
constexpr uint8_t kMaxCompareAndWriteBlocks = 1;     // as LIO: the usual cluster-lock use

}  // namespace lanboot::scsi::disk
