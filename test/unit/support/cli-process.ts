// (Lives under test/unit/support with the other lanboot test support; used by test/integration/cli*.test.ts and supervisor*.test.ts.)
// Helpers of the CLI/supervisor integration tests: run the built `lanboot` CLI, spawn
// `lanboot serve` (killed when the test ends), and receive sd_notify datagrams (Node cannot
// open a Unix datagram socket, so a short python3 listener does).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const repoRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
export const lanbootMain = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export const lanboot = (dataDir: string, args: string[], timeoutMs?: number) =>
  run(process.execPath, [lanbootMain, ...args, '--data', dataDir], timeoutMs === undefined ? {} : { timeoutMs });

export async function lanbootJson<T = any>(dataDir: string, args: string[]): Promise<T> {
  const r = await lanboot(dataDir, [...args, '--json']);
  assert.equal(r.code, 0, `lanboot ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function assertOneLineError(r: Run, message: RegExp): void {
  assert.equal(r.code, 1, `exit code (stdout ${r.stdout}, stderr ${r.stderr})`);
  assert.match(r.stderr, /^lanboot: [^\n]+\n$/, `one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, message);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A Unix datagram socket receiving sd_notify messages, one JSON string per line. */
export async function startNotifyListener(t: TestContext, socketPath: string): Promise<{ messages: () => string[] }> {
  const script = [
    'import socket, sys, json',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print("listening", flush=True)',
    'while True:',
    '    data = s.recv(4096)',
    '    print(json.dumps(data.decode("utf-8", "replace")), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.on('error', (e) => {
    out += `\nERROR ${e.message}`;
  });
  await waitFor('the python3 NOTIFY_SOCKET listener', () => (out.startsWith('listening') ? true : out.includes('ERROR') ? assert.fail(out) : undefined), 10_000);
  return {
    messages: () =>
      out
        .split('\n')
        .slice(1)
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as string),
  };
}

export interface Serve {
  child: ChildProcess;
  output: () => string;
}

export function serve(t: TestContext, dataDir: string, env: NodeJS.ProcessEnv, extraArgs: string[] = []): Serve {
  const child = spawn(process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--iscsi-port', '0', '--http-port', '0', '--listen', '127.0.0.1', ...extraArgs], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (b) => (output += b));
  child.stderr!.on('data', (b) => (output += b));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return { child, output: () => output };
}

