// tgt (the Linux SCSI target framework, Debian package `tgt`) as the reference target: the
// conformance and benchmark baselines, and a known-good target to prove the harnesses against.
//
// tgtd's management socket is /var/run/tgtd/socket.<N>, N set by -C (default 0): every tgtd
// started here picks its own N, so it never clashes with another engineer's or the system's.
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { IscsiDisk, Chap } from './iscsi-disk.js';
import { type Cleanup, FatalWaitError, describeRun, freePort, killTree, requireTools, runTool, spawnTracked, waitExit, waitFor } from './tools.js';

export interface TgtDiskSpec {
  targetIqn: string;
  backingFile: string;
  /** Initiator IQNs allowed (tgt: bind --initiator-name). Empty = any initiator. */
  initiators?: string[];
  chap?: Chap;
}

export interface Tgt {
  port: number;
  pid: number;
  controlPort: number;
  addDisk(spec: TgtDiskSpec): Promise<IscsiDisk>;
  stop(): Promise<void>;
}

function pickControlPort(): number {
  for (let i = 0; i < 100; i++) {
    // tgtd accepts -C 0..32767.
    const n = 10_000 + Math.floor(Math.random() * 22_000);
    if (!fs.existsSync(`/var/run/tgtd/socket.${n}`)) return n;
  }
  throw new Error('no free tgtd control socket number');
}

export async function startTgt(t: Cleanup): Promise<Tgt> {
  requireTools('tgtd', 'tgtadm');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const controlPort = pickControlPort();
    const port = await freePort();
    const child: ChildProcess = spawnTracked('tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${port}`]);
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    const tgtadm = async (...args: string[]) => {
      const r = await runTool('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', ...args], { timeoutMs: 15_000 });
      if (r.code !== 0) throw new Error(describeRun(`tgtadm ${args.join(' ')}`, r));
      return r.stdout;
    };
    const stop = async () => {
      // tgtd ignores SIGTERM while it has targets, and holds nothing a test needs flushed
      // (its pwrite()s to the backing file are already in the page cache): kill it outright.
      killTree(child, 'SIGKILL');
      await waitExit(child, 10_000);
      fs.rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
      fs.rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
    };
    t.after(stop);
    try {
      await waitFor(
        'tgtd control socket',
        async () => {
          if (child.exitCode !== null) throw new FatalWaitError(`tgtd exited: ${output}`);
          await tgtadm('--op', 'show', '--mode', 'sys');
          return true;
        },
        10_000,
      );
    } catch (e) {
      await stop();
      lastError = e;
      continue; // port raced with someone else: try another pair
    }
    let nextTid = 1;
    return {
      port,
      pid: child.pid ?? 0,
      controlPort,
      stop,
      async addDisk(spec) {
        const tid = String(nextTid++);
        await tgtadm('--op', 'new', '--mode', 'target', '--tid', tid, '-T', spec.targetIqn);
        // LUN 0 of a tgt target is its controller; the disk is LUN 1.
        await tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', tid, '--lun', '1', '-b', spec.backingFile);
        const initiators = spec.initiators ?? [];
        if (initiators.length === 0) await tgtadm('--op', 'bind', '--mode', 'target', '--tid', tid, '-I', 'ALL');
        for (const iqn of initiators) await tgtadm('--op', 'bind', '--mode', 'target', '--tid', tid, '--initiator-name', iqn);
        if (spec.chap !== undefined) {
          await tgtadm('--op', 'new', '--mode', 'account', '--user', spec.chap.user, '--password', spec.chap.secret);
          await tgtadm('--op', 'bind', '--mode', 'account', '--tid', tid, '--user', spec.chap.user);
        }
        const disk: IscsiDisk = { server: 'tgt', host: '127.0.0.1', port, targetIqn: spec.targetIqn, lun: 1, initiatorIqns: initiators };
        if (spec.chap !== undefined) disk.chap = spec.chap;
        return disk;
      },
    };
  }
  throw lastError instanceof Error ? lastError : new Error('tgtd did not start');
}
