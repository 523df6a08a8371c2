// Anyone on the LAN can send garbage to ports 67 and 4011; one warning per datagram would let
// them flood the journal. This allows a burst, then one line per interval with a count.
export class LogLimiter {
  private tokens: number;
  private lastRefill: number;
  private suppressed = 0;

  constructor(
    private readonly burst = 20,
    private readonly perSecond = 1,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.lastRefill = now();
  }

  /** Whether to log this event; when it says yes after suppressing some, `suppressed` tells
   *  how many were dropped since the last logged one. */
  take(): { log: boolean; suppressed: number } {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.perSecond);
    this.lastRefill = now;
    if (this.tokens < 1) {
      this.suppressed++;
      return { log: false, suppressed: 0 };
    }
    this.tokens -= 1;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return { log: true, suppressed };
  }
}
