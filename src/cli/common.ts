// What every CLI command shares: the I/O it writes to, flag parsing with one-line errors,
// the API client for the data directory, and --json output.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolveDataDir } from '../config/config.js';
import { LanbootError } from '../log/errors.js';
import { DataLayout } from '../storage/layout.js';
import { ApiClient } from './api-client.js';

/** One CLI handler: its arguments (after the command words) and the I/O. */
export type Handler = (args: string[], io: CliIo) => Promise<void>;

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Only `password set` reads it (the new password never comes from argv). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const COMMON = { data: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } } as const;

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(command: string, args: string[], options: O, positionals: { min: number; max: number; names: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs' messages run on over several sentences; keep the first.
    const first = (error as Error).message.split('. ')[0]!.replace(/\.$/, '');
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: ${first}`);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: missing ${positionals.names}`);
  if (count > positionals.max) throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: unexpected argument '${parsed.positionals[positionals.max]}'`);
  return parsed;
}

export function clientFor(values: { data?: string | undefined; config?: string | undefined }, io: CliIo): ApiClient {
  const { dataDir, label } = resolveDataDir(values, io.env, io.cwd);
  return new ApiClient(new DataLayout(dataDir).socket, label);
}

export function requireFlag(command: string, value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: ${flag} is required`);
  return value;
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

