// A stand-in for the native iSCSI engine that records what the control plane asks of it.
// Used only by unit tests of the control plane, the local API and the supervisor's
// lifecycle: they assert the calls (which targets, with which ACL, CHAP, serial, golden
// file), which the real engine does not expose. The real engine (native addon) is driven by
// test/integration/cli.test.ts and the conformance/e2e suites.
import fs from 'node:fs';
import type { EngineEvent, IscsiEngine, SessionInfo, TargetConfig } from '../../../src/native/index.js';

export class RecordingEngine implements IscsiEngine {
  readonly targets = new Map<string, TargetConfig>();
  readonly calls: { method: string; iqn?: string }[] = [];
  readonly resets: string[] = [];
  listening: { host: string; port: number } | undefined;
  closed = false;
  /** Make the next setTarget throw (the engine refusing a config). */
  failNextSetTarget: string | undefined;

  constructor(readonly onEvent: (event: EngineEvent) => void) {}

  listen(host: string, port: number): number {
    this.calls.push({ method: 'listen' });
    this.listening = { host, port: port === 0 ? 40000 + Math.floor(Math.random() * 20000) : port };
    return this.listening.port;
  }

  setTarget(config: TargetConfig): void {
    this.calls.push({ method: 'setTarget', iqn: config.iqn });
    if (this.failNextSetTarget) {
      const message = this.failNextSetTarget;
      this.failNextSetTarget = undefined;
      throw new Error(message);
    }
    // Like the real engine: the delta directory is created if missing.
    fs.mkdirSync(config.deltaDir, { recursive: true });
    this.targets.set(config.iqn, structuredClone(config));
  }

  removeTarget(iqn: string): void {
    this.calls.push({ method: 'removeTarget', iqn });
    this.targets.delete(iqn);
  }

  resetDisk(iqn: string): void {
    this.calls.push({ method: 'resetDisk', iqn });
    if (!this.targets.has(iqn)) throw new Error(`no target ${iqn}`);
    this.resets.push(iqn);
  }

  armFreshStart(iqn: string): void {
    this.calls.push({ method: 'armFreshStart', iqn });
    if (!this.targets.has(iqn)) throw new Error(`no target ${iqn}`);
  }

  disarmFreshStart(iqn: string): void {
    this.calls.push({ method: 'disarmFreshStart', iqn });
  }

  /** Where each target's command trace is being written (absent: off). */
  readonly traces = new Map<string, string>();

  setCommandTrace(iqn: string, tracePath: string | null): void {
    this.calls.push({ method: 'setCommandTrace', iqn });
    if (!this.targets.has(iqn)) throw new Error(`no target ${iqn}`);
    if (tracePath === null) this.traces.delete(iqn);
    else this.traces.set(iqn, tracePath);
  }

  commandTraceOn(iqn: string): boolean {
    return this.traces.has(iqn);
  }

  /** What readDisk answers at offset 0 per target (other bytes read as zeros). */
  readonly diskStart = new Map<string, Buffer>();

  readDisk(iqn: string, offset: number, length: number): Buffer {
    if (!this.targets.has(iqn)) throw new Error(`no target ${iqn}`);
    const out = Buffer.alloc(length);
    const start = this.diskStart.get(iqn);
    if (start && offset < start.length) start.copy(out, 0, offset, Math.min(start.length, offset + length));
    return out;
  }

  deltaBytes(iqn: string): number {
    if (!this.targets.has(iqn)) throw new Error(`no target ${iqn}`);
    return 0;
  }

  sessions(): SessionInfo[] {
    return [];
  }

  close(): void {
    this.calls.push({ method: 'close' });
    this.closed = true;
  }
}
