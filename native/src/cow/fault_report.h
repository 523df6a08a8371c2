// A CowStore decorator that reports what the supervisor must show about a seat's storage, to
// a callback, at most once per interval per store and kind, so a failing disk or a full seat
// is named without an event per failed command:
//   - a write refused for lack of space: kSeatQuotaExceeded (the seat's delta quota) or
//     -ENOSPC (the data disk; see store.h). The initiator gets CHECK CONDITION, DATA PROTECT /
//     SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h, SBC-3 4.7.3.6) from the disk LUN;
//   - any other file-system error on a read, write or flush (-EIO from a failing disk, a
//     golden file that shrank under the store): the initiator gets MEDIUM ERROR from the LUN
//     (11h/00h UNRECOVERED READ ERROR or 0Ch/00h WRITE ERROR).
// Range errors (-EINVAL), writes to a read-only store (-EROFS) and a COMPARE AND WRITE
// mismatch (-EILSEQ) are about the initiator's command, not the box, and are not reported.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "cow/store.h"

namespace lanboot::scsi {

class FaultReportingStore final : public CowStore {
 public:
  // reason: "quota" (kSeatQuotaExceeded), "disk-full" (-ENOSPC) or "io-error" (any other
  // file-system error; `error` is its positive errno). operation: "read", "write" or "flush".
  // quotaBytes is only passed on to the report.
  struct Fault {
    std::string reason;
    std::string operation;
    int error = 0;
    uint64_t deltaBytes = 0;
    uint64_t quotaBytes = 0;
  };
  using Report = std::function<void(const Fault& fault)>;

  FaultReportingStore(std::shared_ptr<CowStore> inner, uint64_t quotaBytes, Report report,
                      std::chrono::milliseconds interval = std::chrono::seconds(10))
      : inner_(std::move(inner)), quotaBytes_(quotaBytes), report_(std::move(report)), intervalMs_(interval.count()) {}

  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  bool readOnly() const override { return inner_->readOnly(); }
  int readExtents(uint64_t offset, uint64_t length, std::vector<FileExtent>& out) override {
    return check(inner_->readExtents(offset, length, out), "read");
  }
  int read(uint64_t offset, uint64_t length, uint8_t* out) override {
    return check(inner_->read(offset, length, out), "read");
  }
  int write(uint64_t offset, const uint8_t* data, uint64_t length, bool fua) override {
    return check(inner_->write(offset, data, length, fua), "write");
  }
  int writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return check(inner_->writeZeroes(offset, length, fua), "write");
  }
  int compareAndWrite(uint64_t offset, const uint8_t* expected, const uint8_t* replacement, uint64_t length, bool fua,
                      uint64_t* mismatchOffset) override {
    return check(inner_->compareAndWrite(offset, expected, replacement, length, fua, mismatchOffset), "write");
  }
  int discard(uint64_t offset, uint64_t length) override { return check(inner_->discard(offset, length), "write"); }
  int flush() override { return check(inner_->flush(), "flush"); }
  int reset() override { return inner_->reset(); }
  uint64_t deltaBytesUsed() const override { return inner_->deltaBytesUsed(); }
  void setQuotaBytes(uint64_t quotaBytes) override {
    inner_->setQuotaBytes(quotaBytes);
    quotaBytes_.store(quotaBytes);
  }
  int exportTo(int destFd, const std::function<void(uint64_t)>& progress) override {
    return inner_->exportTo(destFd, progress);
  }

  void noteReadFault(int error) override {
    inner_->noteReadFault(error);
    report(error == 0 ? EIO : error, "read");
  }

 private:
  int check(int rc, const char* operation) {
    if (rc == 0 || rc == -EINVAL || rc == -EROFS || rc == -EILSEQ || !report_) return rc;
    if (rc == kSeatQuotaExceeded) {
      reportLimited(lastSpaceReportMs_, Fault{"quota", operation, -rc, 0, 0});
    } else if (rc == -ENOSPC) {
      reportLimited(lastSpaceReportMs_, Fault{"disk-full", operation, ENOSPC, 0, 0});
    } else {
      report(-rc, operation);
    }
    return rc;
  }

  void report(int error, const char* operation) { reportLimited(lastFaultReportMs_, Fault{"io-error", operation, error, 0, 0}); }

  void reportLimited(std::atomic<int64_t>& lastReportMs, Fault fault) {
    if (!report_) return;
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t last = lastReportMs.load();
    if (last != 0 && now - last < intervalMs_) return;
    if (!lastReportMs.compare_exchange_strong(last, now)) return;  // another thread reports
    fault.deltaBytes = inner_->deltaBytesUsed();
    fault.quotaBytes = quotaBytes_.load();
    report_(fault);
  }

  std::shared_ptr<CowStore> inner_;
  std::atomic<uint64_t> quotaBytes_;  // for the report only: the inner store enforces it
  Report report_;
  int64_t intervalMs_;
  std::atomic<int64_t> lastSpaceReportMs_{0};
  std::atomic<int64_t> lastFaultReportMs_{0};
};

}  // namespace lanboot::scsi
