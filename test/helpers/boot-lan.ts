// A LAN for boot tests of whole PCs: network namespaces with `lanboot serve --dhcp full` on
// its veth (no router), and qemu PCs (TCG; SeaBIOS with the e1000's iPXE ROM, or OVMF with
// the ROM-less virtio NIC that PXE-boots snponly.efi from lanboot) on a tap of the bridge.
// Each PC has a monitor socket, so a test can read its screen (BIOS text mode: the VGA text
// buffer at 0xB8000; any mode: a screendump) and type on its keyboard (sendkey): iPXE, the
// boot menu and memtest86+ write to the screen only, never to a serial port.
// Every process and namespace is removed when the test ends, also on failure.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { createTestNetwork, type TestNetwork } from './netns.js';
import { lanbootMain, runLanbootCli } from './supervisor.js';
import { FatalWaitError, killTree, requireTools, tempDir, waitExit, waitFor } from './tools.js';

export const LAN_SERVER = '10.83.0.1';
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export type Firmware = 'bios' | 'uefi';

export interface BootLan {
  work: string;
  dataDir: string;
  net: TestNetwork;
  /** Runs `lanboot ARGS`; fails the test on a non-zero exit. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  logs(): string;
  /** The boot timeline of a MAC, as `lanboot boot events MAC` prints it. */
  bootEvents(mac: string): Promise<Array<{ step: string; detail: string }>>;
}

/** `lanboot serve` with full DHCP in a fresh set of namespaces, and a tap for the PCs. */
export async function startBootLan(t: TestContext, options: { serveArgs?: string[] } = {}): Promise<BootLan> {
  requireTools('ip', 'qemu-system-x86_64');
  const work = await tempDir(t, 'lanboot-boot-lan-');
  const dataDir = path.join(work, 'data');
  await fsp.mkdir(dataDir);
  const lan = await createTestNetwork(t, { hosts: [{ name: 'lanboot', address: `${LAN_SERVER}/24` }] });
  const env = { ...process.env };
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['LANBOOT_TFTP_PORT'];
  const serve = lan.spawn(
    'lanboot',
    process.execPath,
    [lanbootMain, 'serve', '--data', dataDir, '--interface', 'eth0', '--iscsi-port', '0', '--http-port', '0', '--dhcp', 'full', '--dhcp-range', '10.83.0.100-10.83.0.120', ...(options.serveArgs ?? [])],
    { env },
  );
  let logs = '';
  const keep = (b: Buffer) => (logs = (logs + b.toString()).slice(-512 * 1024));
  serve.stdout?.on('data', keep);
  serve.stderr?.on('data', keep);
  const cli = async (args: string[], timeoutMs = 60_000) => {
    const r = await runLanbootCli(dataDir, args, timeoutMs);
    assert.equal(r.code, 0, `lanboot ${args.join(' ')}: ${r.stderr}\n${logs.slice(-3000)}`);
    return r.stdout;
  };
  await waitFor(
    'lanboot serve with its DHCP running',
    async () => {
      if (serve.exitCode !== null) throw new Error(`lanboot serve exited ${serve.exitCode}:\n${logs.slice(-3000)}`);
      const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as { services: Record<string, { running?: boolean }> };
      return s.services['dhcp']?.running && s.services['tftp']?.running ? true : undefined;
    },
    60_000,
    250,
  );
  await lan.addTap('tap0');
  return {
    work,
    dataDir,
    net: lan,
    cli,
    logs: () => logs,
    bootEvents: async (mac) => JSON.parse(await cli(['boot', 'events', mac, '--json'])) as Array<{ step: string; detail: string }>,
  };
}

/** A human-monitor (HMP) connection: one command at a time, answered up to the next prompt. */
class Monitor {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    socket.on('error', () => this.waiter?.());
    socket.on('close', () => this.waiter?.());
  }

  static async connect(socketPath: string): Promise<Monitor> {
    const socket = await waitFor(
      `the qemu monitor at ${socketPath}`,
      () =>
        new Promise<net.Socket | undefined>((resolve) => {
          const s = net.createConnection(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', () => resolve(undefined));
        }),
      30_000,
      200,
    );
    const monitor = new Monitor(socket);
    await monitor.untilPrompt();
    return monitor;
  }

  private async untilPrompt(): Promise<string> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const at = this.buffer.indexOf('(qemu) ');
      if (at >= 0) {
        const answer = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + 7);
        return answer;
      }
      if (this.socket.destroyed || Date.now() > deadline) throw new Error(`qemu monitor: no prompt (${this.socket.destroyed ? 'closed' : 'timeout'})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  command(line: string): Promise<string> {
    const run = this.queue.then(async () => {
      this.socket.write(`${line}\n`);
      return this.untilPrompt();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface Pc {
  mac: string;
  firmware: Firmware;
  /** What the guest wrote to COM1 (OVMF mirrors its text console there). */
  serial(): string;
  /** The 80x25 VGA text buffer as 25 lines (BIOS text mode; garbage in graphics modes). */
  vgaText(): Promise<string>;
  /** Screen contents as a PPM file (qemu's screendump). */
  screendump(file: string): Promise<void>;
  /** Presses keys (qemu sendkey names: 'down', 'ret', 'd', ...) one after the other. */
  sendKeys(...keys: string[]): Promise<void>;
  /** Resolves once `probe` sees what it wants on the screen or serial console. */
  waitForScreen(what: string, pattern: RegExp, timeoutMs: number): Promise<string>;
  exited(): boolean;
  kill(): Promise<void>;
}

/** Text a PC showed last: VGA text on BIOS, the serial console (without escape codes) on UEFI. */
function plainSerial(raw: string): string {
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** Starts a PC on the LAN's tap. `reboot`: a guest reboot restarts it (the install flow);
 *  otherwise a reboot ends qemu. */
export async function startPc(lan: BootLan, t: TestContext, options: { mac: string; firmware: Firmware; memoryMiB?: number; reboot?: boolean; name?: string }): Promise<Pc> {
  const name = options.name ?? options.mac.replaceAll(':', '');
  const dir = path.join(lan.work, `pc-${name}`);
  await fsp.mkdir(dir, { recursive: true });
  const serialFile = path.join(dir, 'serial.log');
  const monitorPath = path.join(dir, 'monitor.sock');
  const uefi = options.firmware === 'uefi';
  const firmwareArgs: string[] = [];
  if (uefi) {
    const vars = path.join(dir, 'OVMF_VARS.fd');
    await fsp.copyFile(OVMF_VARS_TEMPLATE, vars);
    firmwareArgs.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  const args = [
    '-machine', `${uefi ? 'q35' : 'pc'},accel=tcg`, // iPXE crashed under KVM on this machine
    '-m', String(options.memoryMiB ?? 512),
    '-display', 'none',
    '-vga', 'std',
    '-serial', `file:${serialFile}`,
    '-monitor', `unix:${monitorPath},server,nowait`,
    ...(options.reboot ? [] : ['-no-reboot']),
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    // BIOS: the e1000's ROM is iPXE (qemu's default ROM); UEFI: a NIC without ROM, so OVMF's
    // own PXE fetches snponly.efi from lanboot's TFTP, as on a real PC.
    '-device', uefi ? `virtio-net-pci,romfile=,netdev=n0,mac=${options.mac}` : `e1000,netdev=n0,mac=${options.mac}`,
    ...firmwareArgs,
    ...(uefi ? [] : ['-boot', 'n']),
  ];
  const qemu = lan.net.spawn('lan', 'qemu-system-x86_64', args);
  let stderr = '';
  qemu.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-16 * 1024)));
  const monitor = await Monitor.connect(monitorPath);
  const kill = async () => {
    monitor.close();
    killTree(qemu);
    await waitExit(qemu, 10_000);
  };
  t.after(kill);
  const serial = () => (fs.existsSync(serialFile) ? fs.readFileSync(serialFile, 'latin1') : '');
  const vgaText = async () => {
    const dump = await monitor.command('xp /4000bx 0xb8000');
    const bytes: number[] = [];
    // Only the dump's own lines ("000000000b8000: 0x4d 0x07 ..."): the monitor also echoes
    // the command line as typed, escape codes and all.
    for (const line of dump.split(/\r?\n/)) {
      const row = /^\s*[0-9a-f]{8,16}:((?:\s+0x[0-9a-f]{2})+)\s*$/.exec(line);
      if (row) for (const m of row[1]!.matchAll(/0x([0-9a-f]{2})/g)) bytes.push(parseInt(m[1]!, 16));
    }
    const chars: string[] = [];
    // Each cell: character, attribute.
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const c = bytes[i]!;
      chars.push(c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ' ');
    }
    const lines: string[] = [];
    for (let row = 0; row < 25; row++) lines.push(chars.slice(row * 80, row * 80 + 80).join('').trimEnd());
    return lines.join('\n');
  };
  const screen = async () => (uefi ? plainSerial(serial()) : (await vgaText()) + '\n' + plainSerial(serial()));
  return {
    mac: options.mac,
    firmware: options.firmware,
    serial,
    vgaText,
    screendump: async (file) => {
      await monitor.command(`screendump ${file}`);
    },
    sendKeys: async (...keys) => {
      for (const key of keys) {
        await monitor.command(`sendkey ${key}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    waitForScreen: (what, pattern, timeoutMs) =>
      waitFor(
        what,
        async () => {
          if (qemu.exitCode !== null || qemu.signalCode !== null) throw new FatalWaitError(`qemu ended (${qemu.exitCode ?? qemu.signalCode}) before ${what}\n${stderr}\nserial:\n${plainSerial(serial()).slice(-3000)}\nlanboot:\n${lan.logs().slice(-3000)}`);
          const text = await screen().catch(() => '');
          return pattern.test(text) ? text : undefined;
        },
        timeoutMs,
        1000,
      ).catch(async (error: Error) => {
        const text = await screen().catch(() => '');
        throw new Error(`${error.message}\nscreen:\n${text.slice(-3000)}\nlanboot:\n${lan.logs().slice(-2000)}`);
      }),
    exited: () => qemu.exitCode !== null || qemu.signalCode !== null,
    kill,
  };
}
