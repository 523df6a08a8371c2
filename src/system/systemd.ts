// systemd readiness and watchdog (sd_notify(3)). The datagram is sent by the native addon:
// Node cannot open a Unix datagram socket. Without NOTIFY_SOCKET every call is a no-op.
import type { Logger } from 'pino';
import type { SystemdSettings } from '../config/config.js';

export type SdNotify = (state: string) => boolean;

export class SystemdNotifier {
  private watchdogTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly notify: SdNotify,
    private readonly logger: Logger,
    private readonly settings: SystemdSettings,
  ) {}

  private send(state: string): void {
    try {
      this.notify(state);
    } catch (error) {
      this.logger.warn({ state, err: { message: (error as Error).message } }, 'sd_notify failed');
    }
  }

  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${status}`);
  }

  status(status: string): void {
    this.send(`STATUS=${status}`);
  }

  stopping(): void {
    this.stopWatchdog();
    this.send('STOPPING=1\nSTATUS=stopping');
  }

  /** Pings WATCHDOG=1 every WATCHDOG_USEC/2 when the service manager asked for it
   *  (sd_watchdog_enabled(3); the configuration checked WATCHDOG_PID). */
  startWatchdog(): number | undefined {
    const usec = this.settings.watchdogUsec;
    if (usec === undefined) return undefined;
    const intervalMs = Math.max(1, Math.floor(usec / 2000));
    this.watchdogTimer = setInterval(() => this.send('WATCHDOG=1'), intervalMs);
    // The watchdog must not keep a stopping process alive.
    this.watchdogTimer.unref();
    return intervalMs;
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }
}
