// Login rate limit per client address: the first FREE_FAILURES wrong passwords cost nothing,
// then each further one doubles the wait (1 s, 2 s, 4 s, ... up to MAX_DELAY_MS). A correct
// password clears the address. An attempt is counted as a failure BEFORE the password check
// (beginAttempt) and forgiven only when the password was right: a check takes ~0.1 s (scrypt),
// and counting after it let parallel requests from one address all pass the gate before the
// first failure was recorded. Bounded: the oldest addresses are forgotten first, so a host
// inventing addresses cannot grow memory (and IPv4 on a LAN has few of them anyway).

export const FREE_FAILURES = 5;
const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 15 * 60 * 1000;
const MAX_TRACKED = 4096;
/** Failures older than this are forgotten. */
const FORGET_AFTER_MS = 60 * 60 * 1000;

interface Entry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class LoginRateLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** ms the address must still wait before it may try again; 0 = may try now. */
  waitMs(address: string): number {
    const entry = this.fresh(address);
    if (!entry) return 0;
    return Math.max(0, entry.blockedUntil - this.now());
  }

  /** Gate and count in one synchronous step: 0 = the attempt may check a password (and is
   *  already counted as a failure until recordSuccess); > 0 = refused, ms still to wait. */
  beginAttempt(address: string): number {
    const wait = this.waitMs(address);
    if (wait > 0) return wait;
    this.recordFailure(address);
    return 0;
  }

  recordFailure(address: string): number {
    const now = this.now();
    const entry = this.fresh(address) ?? { failures: 0, lastFailureAt: now, blockedUntil: 0 };
    entry.failures++;
    entry.lastFailureAt = now;
    if (entry.failures >= FREE_FAILURES) {
      const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (entry.failures - FREE_FAILURES));
      entry.blockedUntil = now + delay;
    }
    this.entries.delete(address); // most recent last
    this.entries.set(address, entry);
    if (this.entries.size > MAX_TRACKED) this.entries.delete(this.entries.keys().next().value!);
    return Math.max(0, entry.blockedUntil - now);
  }

  recordSuccess(address: string): void {
    this.entries.delete(address);
  }

  private fresh(address: string): Entry | undefined {
    const entry = this.entries.get(address);
    if (entry && this.now() - entry.lastFailureAt > FORGET_AFTER_MS && entry.blockedUntil <= this.now()) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }
}
