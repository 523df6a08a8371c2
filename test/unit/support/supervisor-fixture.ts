// An in-process supervisor on a temp data dir with the recording engine (see
// recording-engine.ts for why), plus a CLI runner that captures stdout/stderr.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig, type ConfigFlags } from '../../../src/config/config.js';
import type { SupervisorService } from '../../../src/supervisor/service.js';
import { runCli } from '../../../src/cli/commands.js';
import { Supervisor, supervisorNative } from '../../../src/supervisor/supervisor.js';
import { loadNative } from '../../../src/native/index.js';
import { RecordingEngine } from './recording-engine.js';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export class CaptureStream extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

export async function runCliCaptured(args: string[], cwd: string, options: { tty?: boolean; stdin?: string } = {}): Promise<Captured> {
  const stdout = new CaptureStream();
  const stderr = new CaptureStream();
  stderr.isTTY = options.tty === true;
  const stdin = options.stdin === undefined ? undefined : Readable.from([Buffer.from(options.stdin)]);
  const code = await runCli(args, { stdout, stderr, env: {}, cwd, ...(stdin ? { stdin } : {}) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export interface Fixture {
  dataDir: string;
  supervisor: Supervisor;
  engine: () => RecordingEngine;
  logLines: () => Record<string, unknown>[];
  notifications: string[];
  cli(args: string[], options?: { tty?: boolean; stdin?: string }): Promise<Captured>;
}

export async function startFixture(
  t: { after(fn: () => unknown): void },
  options: { env?: NodeJS.ProcessEnv; services?: SupervisorService[]; flags?: ConfigFlags } = {},
): Promise<Fixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-sup-'));
  const dataDir = path.join(root, 'data');
  const logs = new CaptureStream();
  const logger = pino({ level: 'debug' }, logs);
  const config = loadConfig({ flags: { data: dataDir, 'iscsi-port': '0', 'http-port': '0', listen: '127.0.0.1', ...options.flags }, env: options.env ?? {}, cwd: root, isRoot: false });
  let engine: RecordingEngine | undefined;
  const notifications: string[] = [];
  const supervisor = new Supervisor({
    config,
    logger,
    services: options.services ?? [],
    // The real addon's file tools and copy; a recording engine and sd_notify.
    native: {
      ...supervisorNative(loadNative()),
      engineFactory: (onEvent) => (engine = new RecordingEngine(onEvent)),
      sdNotify: (state) => {
        notifications.push(state);
        return true;
      },
    },
  });
  t.after(async () => {
    await supervisor.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  await supervisor.start();
  return {
    dataDir,
    supervisor,
    engine: () => engine!,
    notifications,
    logLines: () =>
      logs.text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    cli: (args, options) => runCliCaptured([...args, '--data', dataDir], root, options),
  };
}
