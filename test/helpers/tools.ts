// Running the real Debian tools the tests drive (iscsi-*, qemu-*, tgtd, ...): bounded in time,
// output collected, every process killed and every temp dir removed when the test ends, also
// when it fails. A missing tool is a test FAILURE, never a skip: a skipped test proves nothing.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The subset of node:test's TestContext the helpers need (also fits a suite's `after`). */
export interface Cleanup {
  after(fn: () => unknown | Promise<unknown>): void;
}

/** Repository root, found from this file's place in dist/test/helpers or test/helpers. */
export const repoRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('test helpers: repository root (package.json) not found');
})();

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Stop collecting output beyond this many bytes per stream (the tool keeps running). */
  maxOutputBytes?: number;
}

const searchPath = (): string[] => (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin']);

/** Absolute path of an executable, or undefined. */
export function findTool(name: string): string | undefined {
  if (name.includes('/')) return fs.existsSync(name) ? name : undefined;
  for (const dir of searchPath()) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Throws (so the test FAILS) when a tool is missing. Tests never skip themselves: a missing
 * Debian package is a broken test machine, which scripts/install-system-deps.sh fixes.
 */
export function requireTools(...names: string[]): void {
  const missing = names.filter((n) => findTool(n) === undefined);
  if (missing.length > 0) {
    throw new Error(`missing test tools: ${missing.join(', ')} (run scripts/install-system-deps.sh)`);
  }
}

/** Kills a child and its process group (tools are spawned detached, as group leaders). */
export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Waits for a child to exit; resolves at once when it already has. */
export function waitExit(child: ChildProcess, timeoutMs = 10_000): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Every child any helper started, killed at process exit as a last resort. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) killTree(child);
});

/** Spawns a long-running process in its own process group and tracks it for cleanup. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** Runs a tool to completion (or kills it at the timeout) and collects its output. */
export function runTool(command: string, args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxOutput = options.maxOutputBytes ?? 16 * 1024 * 1024;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawnTracked(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outBytes < maxOutput) out.push(b);
      outBytes += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errBytes < maxOutput) err.push(b);
      errBytes += b.length;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: Date.now() - started,
      });
    });
  });
}

/** One line for assertion messages: how a tool ended and the tail of what it said. */
export function describeRun(what: string, r: ToolResult): string {
  const tail = (s: string) => s.trim().split('\n').slice(-15).join('\n');
  return `${what}: code=${r.code} signal=${r.signal}${r.timedOut ? ' TIMED OUT' : ''}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`;
}

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: Cleanup, prefix = 'lanboot-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for tools that cannot be told to use
 * port 0 (tgtd, qemu's slirp target). The small race is accepted; callers retry on EADDRINUSE.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Thrown by a waitFor probe when waiting longer cannot help (the process died). */
export class FatalWaitError extends Error {}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      if (e instanceof FatalWaitError) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** CPU seconds (utime + stime) a process has used so far, from /proc/PID/stat (proc(5)). */
export function processCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so utime (field 14) is rest[11] and stime (field 15) rest[12].
  const ticks = Number(rest[11]) + Number(rest[12]);
  return ticks / clockTicksPerSecond();
}

let cachedClockTicks: number | undefined;
/** USER_HZ, the unit of /proc/PID/stat times: AT_CLKTCK from our own auxv, else Linux's 100. */
function clockTicksPerSecond(): number {
  if (cachedClockTicks === undefined) {
    try {
      cachedClockTicks = parseClockTicksFromAuxv(fs.readFileSync('/proc/self/auxv')) ?? 100;
    } catch {
      cachedClockTicks = 100;
    }
  }
  return cachedClockTicks;
}

/** AT_CLKTCK (type 17) from a 64-bit little-endian auxiliary vector (getauxval(3)). */
function parseClockTicksFromAuxv(auxv: Buffer): number | undefined {
  const AT_CLKTCK = 17n;
  for (let off = 0; off + 16 <= auxv.length; off += 16) {
    const type = auxv.readBigUInt64LE(off);
    if (type === 0n) break;
    if (type === AT_CLKTCK) return Number(auxv.readBigUInt64LE(off + 8));
  }
  return undefined;
}
