// One supervisor per data directory: two would fight over the database, the deltas and the
// socket. The lock is a file holding the owner's pid, created with O_EXCL; a lock whose pid
// is gone (a crash, kill -9) is stale and taken over.
import fs from 'node:fs';
import net from 'node:net';
import { LanbootError } from '../log/errors.js';

export interface DataLock {
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves true when something accepts connections on the Unix socket. */
export function socketInUse(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const done = (inUse: boolean) => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function acquireDataLock(lockFile: string, socketPath: string, dataDirLabel: string): Promise<DataLock> {
  const refuse = (pid?: number) =>
    new LanbootError(
      'LANBOOT_ALREADY_RUNNING',
      `another lanboot supervisor${pid ? ` (pid ${pid})` : ''} is already running on ${dataDirLabel}; stop it first or use another --data directory`,
    );
  // A supervisor from an older layout, or one whose lock file was deleted, still answers on
  // the socket.
  if (await socketInUse(socketPath)) throw refuse(readPid(lockFile));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockFile, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          if (readPid(lockFile) === process.pid) fs.rmSync(lockFile, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readPid(lockFile);
      if (owner !== undefined && owner !== process.pid && pidAlive(owner)) throw refuse(owner);
      // Stale (owner gone, or an unreadable half-written file): take it over once.
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw refuse();
}
