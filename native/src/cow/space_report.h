// A CowStore decorator that reports a write refused for lack of space (kSeatQuotaExceeded:
// the seat's delta quota; -ENOSPC: the data disk; see store.h) to a callback, at most once
// per interval per store, so the supervisor can say which seat is full and why without an
// event per failed write. The initiator already gets CHECK CONDITION, DATA PROTECT / SPACE
// ALLOCATION FAILED WRITE PROTECT (27h/07h, SBC-3 4.7.3.6) from the disk LUN for both; this
// only adds the report.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "cow/store.h"

namespace lanboot::scsi {

class SpaceReportingStore final : public CowStore {
 public:
  // reason: "quota" (the store refused the write with kSeatQuotaExceeded) or "disk-full"
  // (-ENOSPC: the file system is full). quotaBytes is only passed on to the report.
  using Report = std::function<void(const std::string& reason, uint64_t deltaBytes, uint64_t quotaBytes)>;

  SpaceReportingStore(std::shared_ptr<CowStore> inner, uint64_t quotaBytes, Report report,
                      std::chrono::milliseconds interval = std::chrono::seconds(10))
      : inner_(std::move(inner)), quotaBytes_(quotaBytes), report_(std::move(report)), intervalMs_(interval.count()) {}

  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  bool readOnly() const override { return inner_->readOnly(); }
  int readExtents(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) override {
    return inner_->readExtents(offset, length, out);
  }
  int read(uint64_t offset, uint64_t length, uint8_t* out) override { return inner_->read(offset, length, out); }
  int write(uint64_t offset, const uint8_t* data, uint64_t length, bool fua) override {
    return check(inner_->write(offset, data, length, fua));
  }
  int writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return check(inner_->writeZeroes(offset, length, fua));
  }
  int compareAndWrite(uint64_t offset, const uint8_t* expected, const uint8_t* replacement, uint64_t length, bool fua,
                      uint64_t* mismatchOffset) override {
    return check(inner_->compareAndWrite(offset, expected, replacement, length, fua, mismatchOffset));
  }
  int discard(uint64_t offset, uint64_t length) override { return inner_->discard(offset, length); }
  int flush() override { return check(inner_->flush()); }
  int reset() override { return inner_->reset(); }
  uint64_t deltaBytesUsed() const override { return inner_->deltaBytesUsed(); }
  void setQuotaBytes(uint64_t quotaBytes) override {
    inner_->setQuotaBytes(quotaBytes);
    quotaBytes_.store(quotaBytes);
  }
  int exportTo(int destFd, const std::function<void(uint64_t)>& progress) override {
    return inner_->exportTo(destFd, progress);
  }

 private:
  int check(int rc) {
    if ((rc != -ENOSPC && rc != kSeatQuotaExceeded) || !report_) return rc;
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t last = lastReportMs_.load();
    if (last != 0 && now - last < intervalMs_) return rc;
    if (!lastReportMs_.compare_exchange_strong(last, now)) return rc;  // another thread reports
    report_(rc == kSeatQuotaExceeded ? "quota" : "disk-full", inner_->deltaBytesUsed(), quotaBytes_.load());
    return rc;
  }

  std::shared_ptr<CowStore> inner_;
  std::atomic<uint64_t> quotaBytes_;  // for the report only: the inner store enforces it
  Report report_;
  int64_t intervalMs_;
  std::atomic<int64_t> lastReportMs_{0};
};

}  // namespace lanboot::scsi
