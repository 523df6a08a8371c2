// One supervisor per data directory: two would fight over the database, the deltas and the
// socket. The lock is a file holding the owner's pid and the kernel's boot id, created with
// O_EXCL; a lock whose pid is gone (a crash, kill -9) or that was written in an earlier boot
// (a power cut: pids start over at boot, and the old pid may now be any other process) is
// stale and taken over.
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

/** This boot's id (random per boot, proc(5)); '' where the kernel has none. */
function currentBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The lock's owner: "PID BOOT_ID" (or "PID" from older versions). */
function readOwner(file: string): { pid: number; bootId: string | undefined } | undefined {
  try {
    const m = /^(\d{1,10})(?: ([0-9a-f-]{1,64}))?$/.exec(fs.readFileSync(file, 'utf8').trim());
    return m ? { pid: Number(m[1]), bootId: m[2] } : undefined;
  } catch {
    return undefined;
  }
}

function readPid(file: string): number | undefined {
  return readOwner(file)?.pid;
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
      const bootId = currentBootId();
      fs.writeSync(fd, bootId ? `${process.pid} ${bootId}\n` : `${process.pid}\n`);
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
      const owner = readOwner(lockFile);
      const sameBoot = owner?.bootId === undefined || owner.bootId === currentBootId();
      if (owner !== undefined && sameBoot && owner.pid !== process.pid && pidAlive(owner.pid)) throw refuse(owner.pid);
      // Stale (owner gone, written before this boot, or an unreadable half-written file):
      // take it over once.
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw refuse();
}
