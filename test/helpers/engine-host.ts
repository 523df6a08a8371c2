// A child process that loads the native addon and runs one IscsiEngine, so tests can see a
// crash as the child's exit and count its open descriptors in /proc/<pid>/fd.
//
// Child side (this file run as a script):
//   node dist/test/helpers/engine-host.js --listen 127.0.0.1:0 --target '<TargetConfig JSON>' ...
//   stdout: one JSON object per line: {"kind":"ready","port":N}, {"kind":"event",...},
//           {"kind":"reply","id":N,...}. stdin: one JSON command per line
//           ({"id":N,"cmd":"sessions"|"deltaBytes"|"resetDisk","iqn"?}). stdin EOF or SIGTERM:
//           engine.close() then exit 0.
//
// Environment: LANBOOT_TEST_ADDON=<path to .node> loads another build of the addon (a sanitizer
// build), LANBOOT_TEST_ADDON_PRELOAD=<libasan.so ...> is put into the child's LD_PRELOAD.
//
// Parent side: startEngineHost() spawns it; startTgtHost() runs Debian's tgtd with the same
// interface, as a reference target: what tgt accepts, lanboot must accept.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import type { EngineEvent, NativeAddon, TargetConfig } from '../../src/native/index.js';

export interface HostTarget {
  iqn: string;
  /** The disk's LUN as an initiator addresses it (lanboot: 0; tgt: 1, LUN 0 is its controller). */
  lun: number;
}

export interface TargetHost {
  readonly kind: 'engine' | 'tgt';
  readonly pid: number;
  readonly port: number;
  readonly host: string;
  /** Engine events seen so far (engine host only). */
  readonly events: EngineEvent[];
  /** Open descriptors of the target process, from /proc/<pid>/fd. */
  fdCount(): number;
  /** Names of /proc/<pid>/fd entries (readlink targets), for leak diagnostics. */
  fdTargets(): string[];
  /** True while the process runs. */
  isAlive(): boolean;
  /** How the process ended, once it did. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Output the process wrote to stderr (crash diagnostics). */
  stderr(): string;
  /** The disk LUN for a target. */
  lunOf(iqn: string): number;
  /** Number of logged-in sessions the target reports (engine: sessions(); tgt: tgtadm). */
  sessionCount(): Promise<number>;
  /** SIGKILL: a crash, for durability tests. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export interface EngineHostOptions {
  targets: TargetConfig[];
  host?: string;
  /** Extra environment for the child. */
  env?: NodeJS.ProcessEnv;
}

const here = path.dirname(fileURLToPath(import.meta.url));

function countFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function fdTargetsOf(pid: number): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // The descriptor closed between readdir and readlink.
    }
  }
  return out;
}

/** Children still running when the test process exits are killed (last-resort cleanup). */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

function processAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (!processAlive(child)) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (processAlive(child)) child.kill('SIGKILL');
  }, graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Spawns the engine host child and waits for it to listen. */
export async function startEngineHost(options: EngineHostOptions): Promise<TargetHost> {
  const script = path.join(here, 'engine-host.js');
  const args = [script, '--listen', `${options.host ?? '127.0.0.1'}:0`];
  for (const t of options.targets) args.push('--target', JSON.stringify(t));
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // A sanitizer build of the addon (docs/robustness.md, "ASan"): its runtime must be loaded
  // before anything else, so it goes into LD_PRELOAD of the child only, never of this process.
  if (env['LANBOOT_TEST_ADDON_PRELOAD']) {
    env['LD_PRELOAD'] = env['LANBOOT_TEST_ADDON_PRELOAD'];
    // Node itself leaks on purpose at exit; only memory errors in the addon matter here.
    env['ASAN_OPTIONS'] = env['ASAN_OPTIONS'] ?? 'detect_leaks=0:abort_on_error=1';
  }
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  track(child);
  const events: EngineEvent[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-20000);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const replies = new Map<number, (msg: Record<string, unknown>) => void>();
  let nextId = 1;
  const ready = new Promise<number>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // stray output from the addon: not ours to parse
      }
      if (msg.kind === 'ready') resolve(msg.port as number);
      else if (msg.kind === 'event') events.push(msg.event as EngineEvent);
      else if (msg.kind === 'reply') replies.get(msg.id as number)?.(msg);
    });
    void exit.then(({ code, signal }) => reject(new Error(`engine host exited before ready (code ${code}, signal ${signal}): ${stderr.slice(-2000)}`)));
  });
  let port: number;
  try {
    port = await ready;
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
  const request = (cmd: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        replies.delete(id);
        reject(new Error(`engine host did not answer ${JSON.stringify(cmd)}`));
      }, 5000);
      replies.set(id, (msg) => {
        clearTimeout(timer);
        replies.delete(id);
        resolve(msg);
      });
      child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  };
  const pid = child.pid!;
  return {
    kind: 'engine',
    pid,
    port,
    host: options.host ?? '127.0.0.1',
    events,
    exit,
    fdCount: () => countFds(pid),
    fdTargets: () => fdTargetsOf(pid),
    isAlive: () => processAlive(child),
    stderr: () => stderr,
    lunOf: () => 0,
    async sessionCount() {
      const reply = await request({ cmd: 'sessions' });
      return (reply.sessions as unknown[]).length;
    },
    async kill9() {
      if (!processAlive(child)) return;
      child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (!processAlive(child)) return;
      child.stdin!.end();
      await stopChild(child, 5000);
    },
  };
}

/** A free TCP port on loopback (bind 0, read, close). */
export async function pickFreePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

export interface TgtTarget {
  iqn: string;
  /** Backing file (tgt writes into it: give it a copy). */
  backingPath: string;
  initiators?: string[];
  chap?: { user: string; secret: string };
  /** Mutual CHAP: the credentials tgt proves itself with (an "outgoing" account). */
  mutualChap?: { user: string; secret: string };
}

/**
 * Runs Debian's tgtd (foreground) on a free loopback port with its own control port, as a
 * reference target. The caller owns the backing files.
 */
export async function startTgtHost(options: { targets: TgtTarget[] }): Promise<TargetHost> {
  const port = await pickFreePort();
  // tgtd's management channel is a unix socket named after the control port; pick one
  // unlikely to clash with another engineer's tgtd.
  // tgtadm accepts up to 32767; skip numbers whose socket another tgtd holds.
  let controlPort = '';
  for (let n = 1000 + (process.pid % 20000); ; n++) {
    if (!fs.existsSync(`/var/run/tgtd/socket.${n}`)) {
      controlPort = String(n);
      break;
    }
  }
  const child = spawn('tgtd', ['-f', '-C', controlPort, '--iscsi', `portal=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  track(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-20000);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const tgtadm = async (...args: string[]): Promise<string> => {
    const p = spawn('tgtadm', ['-C', controlPort, '--lld', 'iscsi', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (s: string) => (out += s));
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (s: string) => (out += s));
    const [code] = (await once(p, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`tgtadm ${args.join(' ')}: exit ${code}: ${out}`);
    return out;
  };
  try {
    // Wait until the management socket answers.
    for (let i = 0; ; i++) {
      try {
        await tgtadm('--op', 'show', '--mode', 'target');
        break;
      } catch (err) {
        if (i > 50 || !processAlive(child)) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let tid = 1;
    for (const t of options.targets) {
      await tgtadm('--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', t.iqn);
      await tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', '1', '-b', t.backingPath);
      for (const ini of t.initiators ?? ['ALL']) {
        await tgtadm('--op', 'bind', '--mode', 'target', '--tid', String(tid), ...(ini === 'ALL' ? ['-I', 'ALL'] : ['-Q', ini]));
      }
      if (t.chap) {
        await tgtadm('--op', 'new', '--mode', 'account', '--user', t.chap.user, '--password', t.chap.secret);
        await tgtadm('--op', 'bind', '--mode', 'account', '--tid', String(tid), '--user', t.chap.user);
      }
      if (t.mutualChap) {
        await tgtadm('--op', 'new', '--mode', 'account', '--user', t.mutualChap.user, '--password', t.mutualChap.secret);
        await tgtadm('--op', 'bind', '--mode', 'account', '--tid', String(tid), '--user', t.mutualChap.user, '--outgoing');
      }
      tid++;
    }
  } catch (err) {
    await stopChild(child, 1000);
    removeTgtSockets(controlPort);
    throw err;
  }
  const pid = child.pid!;
  return {
    kind: 'tgt',
    pid,
    port,
    host: '127.0.0.1',
    events: [],
    exit,
    fdCount: () => countFds(pid),
    fdTargets: () => fdTargetsOf(pid),
    isAlive: () => processAlive(child),
    stderr: () => stderr,
    lunOf: () => 1,
    async sessionCount() {
      const out = await tgtadm('--op', 'show', '--mode', 'target');
      return (out.match(/^\s+I_T nexus: \d+/gm) ?? []).length;
    },
    async kill9() {
      if (processAlive(child)) {
        child.kill('SIGKILL');
        await exit;
      }
      removeTgtSockets(controlPort);
    },
    async stop() {
      await stopChild(child, 3000);
      removeTgtSockets(controlPort);
    },
  };
}

/** tgtd leaves its management socket and lock behind when killed. */
function removeTgtSockets(controlPort: string): void {
  for (const f of [`/var/run/tgtd/socket.${controlPort}`, `/var/run/tgtd/socket.${controlPort}.lock`]) {
    fs.rmSync(f, { force: true });
  }
}

/** A temp dir removed by the returned cleanup. */
export function makeTempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------------------

async function runChild(argv: string[]): Promise<void> {
  const { loadNative } = await import('../../src/native/index.js');
  let listen = '127.0.0.1:0';
  const targets: TargetConfig[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--listen' && value !== undefined) {
      listen = value;
      i++;
    } else if (arg === '--target' && value !== undefined) {
      targets.push(JSON.parse(value) as TargetConfig);
      i++;
    } else {
      throw new Error(`engine-host: unknown argument ${arg}`);
    }
  }
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  const write = (msg: unknown): void => {
    process.stdout.write(JSON.stringify(msg) + '\n');
  };
  // LANBOOT_TEST_ADDON: another build of the addon (e.g. with ASan/UBSan) to run the cases on.
  const alternative = process.env['LANBOOT_TEST_ADDON'];
  const native = alternative ? (createRequire(import.meta.url)(alternative) as NativeAddon) : loadNative();
  const engine = new native.IscsiEngine((event) => write({ kind: 'event', event }));
  for (const t of targets) engine.setTarget(t);
  const bound = engine.listen(host, port);
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    engine.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let cmd: { id?: number; cmd?: string; iqn?: string };
    try {
      cmd = JSON.parse(line) as typeof cmd;
    } catch {
      return;
    }
    try {
      if (cmd.cmd === 'sessions') write({ kind: 'reply', id: cmd.id, sessions: engine.sessions() });
      else if (cmd.cmd === 'deltaBytes') write({ kind: 'reply', id: cmd.id, bytes: engine.deltaBytes(cmd.iqn ?? '') });
      else if (cmd.cmd === 'resetDisk') {
        engine.resetDisk(cmd.iqn ?? '');
        write({ kind: 'reply', id: cmd.id, ok: true });
      } else write({ kind: 'reply', id: cmd.id, error: `unknown command ${cmd.cmd}` });
    } catch (err) {
      write({ kind: 'reply', id: cmd.id, error: (err as Error).message });
    }
  });
  lines.on('close', shutdown);
  write({ kind: 'ready', port: bound });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runChild(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`engine-host: ${err.stack ?? err.message}\n`);
    process.exit(2);
  });
}
