// A qemu PC for boot tests: TCG only (iPXE crashed under KVM on these machines), serial console
// collected from stdout, always killed when the test ends.
import type { ChildProcess } from 'node:child_process';
import { type Cleanup, killTree, requireTools, spawnTracked, waitExit } from './tools.js';

export interface Vm {
  child: ChildProcess;
  /** Everything the guest wrote to COM1 so far. */
  serial(): string;
  /** Resolves with the serial output once `pattern` appears; rejects at the timeout or on exit. */
  waitForSerial(pattern: RegExp, timeoutMs: number): Promise<string>;
  kill(): Promise<void>;
}

export function startVm(t: Cleanup, args: readonly string[]): Vm {
  requireTools('qemu-system-x86_64');
  const child = spawnTracked('qemu-system-x86_64', [
    '-machine', 'pc,accel=tcg',
    '-m', '256',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', 'stdio',
    '-no-reboot',
    ...args,
  ]);
  let serial = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (b: Buffer) => {
    serial = (serial + b.toString('latin1')).slice(-1024 * 1024);
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-64 * 1024)));
  const kill = async () => {
    killTree(child, 'SIGKILL');
    await waitExit(child, 10_000);
  };
  t.after(kill);
  return {
    child,
    serial: () => serial,
    kill,
    waitForSerial(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (error?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
          if (error) reject(error);
          else resolve(serial);
        };
        const check = () => {
          if (pattern.test(serial)) done();
        };
        const onExit = () => done(new Error(`qemu exited (${child.exitCode ?? child.signalCode}) before ${pattern}\nserial:\n${serial.slice(-4000)}\nstderr:\n${stderr}`));
        const timer = setTimeout(() => done(new Error(`no ${pattern} on the serial console within ${timeoutMs} ms\nserial:\n${serial.slice(-4000)}\nstderr:\n${stderr}`)), timeoutMs);
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}
