// The data directory holds the database with every seat's CHAP secrets and the admin password
// hash, and the local API socket: it is the owner's alone. A directory made by lanboot is 0700
// from the start; one that already existed (made by hand, or by an older version) keeps
// whatever mode it had, so it is tightened at every start, and lanboot refuses to run when it
// cannot be.
import fs from 'node:fs';
import { LanbootError } from '../log/errors.js';
import type { DataLayout } from './layout.js';

export const DATA_DIR_MODE = 0o700;
export const DATABASE_FILE_MODE = 0o600;

export interface Tightened {
  path: string;
  from: string;
  to: string;
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

function tighten(file: string, mode: number, what: string): Tightened | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if ((stat.mode & 0o077 & ~mode) === 0) return undefined;
  try {
    fs.chmodSync(file, mode);
  } catch (error) {
    throw new LanbootError(
      'LANBOOT_CONFIG_INVALID',
      `--data: ${what} ${file} is open to other users (mode ${octal(stat.mode)}) and cannot be made ${octal(mode)}: ${(error as Error).message}`,
      undefined,
      { cause: error },
    );
  }
  return { path: file, from: octal(stat.mode), to: octal(mode) };
}

/** The data directory to 0700; returns what changed. */
export function tightenDataDir(layout: DataLayout): Tightened[] {
  const changed = tighten(layout.dataDir, DATA_DIR_MODE, 'the data directory');
  return changed ? [changed] : [];
}

/** The database and its WAL and shared-memory files to 0600 (SQLite gives the -wal and -shm
 *  files the database file's mode); returns what changed. */
export function tightenDatabaseFiles(layout: DataLayout): Tightened[] {
  const out: Tightened[] = [];
  for (const file of [layout.database, `${layout.database}-wal`, `${layout.database}-shm`]) {
    const changed = tighten(file, DATABASE_FILE_MODE, 'the database file');
    if (changed) out.push(changed);
  }
  return out;
}

/** Creates `file` empty with mode 0600 unless it exists. */
export function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', DATABASE_FILE_MODE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
