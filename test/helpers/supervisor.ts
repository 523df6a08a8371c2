// Runs a real `lanboot serve` (the built dist/src/cli/main.js) for a test and drives it through
// its CLI, as a user or script would. Loopback only, ephemeral ports, a fresh data dir; stopped
// and cleaned up when the test ends, also when it fails.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Cleanup, FatalWaitError, killTree, repoRoot, runTool, spawnTracked, waitExit, waitFor, type ToolResult } from './tools.js';

export const lanbootMain = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface LanbootStatus {
  iscsi: { host: string; port: number };
  http: { host: string; port: number };
  [key: string]: unknown;
}

export interface Lanboot {
  dataDir: string;
  iscsiPort: number;
  httpPort: number;
  pid: number;
  /** Runs `lanboot ARGS --data DIR` to completion. */
  cli(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  /** Runs the CLI, requires exit 0 and parses stdout as JSON. */
  cliJson<T = unknown>(args: readonly string[], timeoutMs?: number): Promise<T>;
  /** SIGTERM, then waits for a clean exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** SIGKILL: a crash, for durability tests. */
  kill9(): Promise<void>;
  /** Starts the supervisor again on the same data dir (ports may change; fields are updated). */
  restart(): Promise<void>;
  /** Everything the supervisor wrote to stdout/stderr (pino JSON lines), for failure messages. */
  logs(): string;
}

export interface StartOptions {
  /** Reuse a data dir (kept after the test); default: a fresh temp dir, removed afterwards. */
  dataDir?: string;
  /** Extra `serve` flags. */
  serveArgs?: string[];
  /** How long `status --json` may take to answer after the spawn. */
  readyTimeoutMs?: number;
  /** Extra environment for `serve` (for example NOTIFY_SOCKET and WATCHDOG_USEC of an emulated systemd). */
  env?: Record<string, string>;
}

/** Runs the lanboot CLI once (no supervisor needed for the command itself to start). */
export async function runLanbootCli(dataDir: string, args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  const r: ToolResult = await runTool(process.execPath, [lanbootMain, ...args, '--data', dataDir], { timeoutMs, cwd: repoRoot });
  return { code: r.timedOut ? null : r.code, stdout: r.stdout, stderr: r.stderr + (r.timedOut ? `\n[killed after ${timeoutMs} ms]` : '') };
}

export async function startLanboot(t: Cleanup, options: StartOptions = {}): Promise<Lanboot> {
  if (!fs.existsSync(lanbootMain)) throw new Error(`${lanbootMain} is missing: build first (npm run build)`);
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-data-'));
    const created = dataDir;
    t.after(() => fsp.rm(created, { recursive: true, force: true }));
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let child: ChildProcess | undefined;
  let output = '';

  const cli = (args: readonly string[], timeoutMs?: number) => runLanbootCli(dataDir, args, timeoutMs);
  const cliJson = async <T>(args: readonly string[], timeoutMs?: number): Promise<T> => {
    const r = await cli(args, timeoutMs);
    if (r.code !== 0) throw new Error(`lanboot ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`lanboot ${args.join(' ')} printed no JSON: ${r.stdout.slice(0, 500)}`);
    }
  };

  const handle: Lanboot = {
    dataDir,
    iscsiPort: 0,
    httpPort: 0,
    pid: 0,
    cli,
    cliJson,
    logs: () => output,
    async stop() {
      if (child === undefined) return;
      const c = child;
      child = undefined;
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        if (!(await waitExit(c, 15_000))) {
          killTree(c);
          await waitExit(c, 5_000);
          throw new Error('lanboot did not stop within 15 s of SIGTERM');
        }
      }
    },
    async kill9() {
      if (child === undefined) return;
      const c = child;
      child = undefined;
      killTree(c, 'SIGKILL');
      await waitExit(c, 10_000);
    },
    async restart() {
      await handle.stop();
      await spawnServe();
    },
  };

  async function spawnServe(): Promise<void> {
    const args = [lanbootMain, 'serve', '--data', dataDir!, '--iscsi-port', '0', '--http-port', '0', '--listen', '127.0.0.1', ...(options.serveArgs ?? [])];
    // A test's lanboot must not talk to the systemd of whatever runs the tests.
    const env = { ...process.env };
    delete env['NOTIFY_SOCKET'];
    delete env['WATCHDOG_USEC'];
    Object.assign(env, options.env ?? {});
    const c = spawnTracked(process.execPath, args, { cwd: repoRoot, env });
    child = c;
    const collect = (b: Buffer) => {
      // Keep the last 1 MiB: enough for a failure message, bounded for long runs.
      output = (output + b.toString('utf8')).slice(-1024 * 1024);
    };
    c.stdout?.on('data', collect);
    c.stderr?.on('data', collect);
    const status = await waitFor<LanbootStatus>(
      'lanboot status --json',
      async () => {
        if (c.exitCode !== null || c.signalCode !== null) {
          throw new FatalWaitError(`lanboot serve exited (${c.exitCode ?? c.signalCode}):\n${output.slice(-3000)}`);
        }
        const r = await cli(['status', '--json'], 10_000);
        if (r.code !== 0) return undefined;
        const s = JSON.parse(r.stdout) as LanbootStatus;
        return s.iscsi?.port > 0 ? s : undefined;
      },
      readyTimeoutMs,
      200,
    ).catch((e: unknown) => {
      killTree(c);
      throw e;
    });
    handle.iscsiPort = status.iscsi.port;
    handle.httpPort = status.http.port;
    handle.pid = c.pid ?? 0;
  }

  t.after(async () => {
    try {
      await handle.stop();
    } catch {
      await handle.kill9();
    }
  });
  await spawnServe();
  return handle;
}

/** What `lanboot client show SEAT --json` tells (the fields tests rely on). */
export interface SeatInfo {
  name?: string;
  targetIqn: string;
  portal: string;
  lun: number;
  initiatorIqns: string[];
  chap?: { user: string; secret: string } | null;
  [key: string]: unknown;
}

/** Imports `file` as image `name`, adds seat `seat` on it and returns `client show --json`. */
export async function addSeat(
  lanboot: Lanboot,
  seat: { name: string; image: string; initiators?: string[]; chap?: boolean; mode?: 'fresh' | 'persistent' },
): Promise<SeatInfo> {
  const args = ['client', 'add', '--name', seat.name, '--image', seat.image];
  for (const iqn of seat.initiators ?? []) args.push('--initiator', iqn);
  if (seat.chap === false) args.push('--no-chap');
  if (seat.mode !== undefined) args.push('--mode', seat.mode);
  const r = await lanboot.cli(args);
  if (r.code !== 0) throw new Error(`lanboot ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return lanboot.cliJson<SeatInfo>(['client', 'show', seat.name, '--json']);
}

export async function importImage(lanboot: Lanboot, file: string, name: string): Promise<void> {
  const r = await lanboot.cli(['image', 'import', file, '--name', name], 120_000);
  if (r.code !== 0) throw new Error(`lanboot image import exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
}

/** "host:port" -> parts (IPv6 in brackets allowed). */
export function parsePortal(portal: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(portal);
  if (m === null) throw new Error(`bad portal "${portal}"`);
  return { host: m[1]!, port: Number(m[2]) };
}
