// Booting Debian's own third-party ISOs through lanboot, the way a user does: a seat whose
// boot menu lists the ISO library, or a one-shot `lanboot seat boot SEAT --once iso:...`.
// Shared by the short run in test/e2e/iso-boot.test.ts and the whole matrix in test/slow/.
//
// How each boot is recognised (neither ISO writes to a serial port):
// - memtest86+ on BIOS runs in VGA text mode: its title "Memtest86+" is read from the text
//   buffer. On UEFI it draws into the GOP framebuffer: a screendump must be mostly memtest's
//   blue background (0,0,170), with its grey title bar; iPXE and OVMF screens are black.
// - ipxe.iso is iPXE itself. Booted, it starts over: its own DHCP exchange, then the box's
//   boot script again. The NIC's iPXE never asks DHCP twice, so a second iPXE DHCP step in the
//   boot timeline after the ISO was fetched is the proof; and the boot after the one-shot
//   choice is the seat's usual one, so on BIOS the disk's boot sector prints its marker.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { bootSectorPrinting } from '../fixtures/boot-sector.js';
import { startBootLan, startPc, type BootLan, type Firmware, type Pc } from './boot-lan.js';
import { waitFor } from './tools.js';

export const MEMTEST_ISO = '/usr/lib/memtest86+/memtest86+x64.iso';
export const IPXE_ISO = '/usr/lib/ipxe/ipxe.iso';

export type IsoName = 'memtest' | 'ipxe';
export type IsoPath = 'menu' | 'once';

/** Under TCG a whole chain (PXE, iPXE, script, ISO over HTTP) took 1-2 minutes here. */
export const ISO_BOOT_TIMEOUT_MS = 300_000;

const LIBRARY_NAME: Record<IsoName, string> = { memtest: 'isos/memtest86.iso', ipxe: 'isos/ipxe.iso' };

/** The share of a PPM screendump's pixels that have exactly this colour. */
export async function colourShare(ppmFile: string, rgb: readonly [number, number, number]): Promise<number> {
  const bytes = await fsp.readFile(ppmFile);
  // P6 header: "P6", width, height, maxval, each followed by one whitespace byte.
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(bytes.toString('latin1', 0, 64));
  assert.ok(header, `${ppmFile} is not a binary PPM`);
  const pixels = Number(header[1]) * Number(header[2]);
  const start = header[0].length;
  assert.equal(bytes.length - start, pixels * 3, `${ppmFile}: truncated`);
  let same = 0;
  for (let i = start; i < bytes.length; i += 3) if (bytes[i] === rgb[0] && bytes[i + 1] === rgb[1] && bytes[i + 2] === rgb[2]) same++;
  return same / pixels;
}

export interface IsoLan {
  lan: BootLan;
  marker: string;
  mac: string;
}

/** A LAN whose box holds both ISOs and a seat `pc1` (its disk prints `marker` on COM1). */
export async function isoLan(t: TestContext, mac: string): Promise<IsoLan> {
  const lan = await startBootLan(t);
  const marker = `LANBOOT-DISK-${crypto.randomBytes(5).toString('hex')}`;
  const disk = path.join(lan.work, 'disk.img');
  await fsp.writeFile(disk, Buffer.concat([bootSectorPrinting(marker), Buffer.alloc(8 * 1024 * 1024 - 512)]));
  await lan.cli(['image', 'import', disk, '--name', 'marker']);
  // Library file names are [A-Za-z0-9._-]: memtest86+x64.iso is stored under a plain name.
  await fsp.copyFile(MEMTEST_ISO, path.join(lan.work, 'memtest86.iso'));
  await lan.cli(['image', 'import', path.join(lan.work, 'memtest86.iso'), '--name', 'isos']);
  await lan.cli(['image', 'import', IPXE_ISO, '--name', 'isos']);
  await lan.cli(['seat', 'add', '--name', 'pc1', '--image', 'marker', '--mac', mac, '--mode', 'persistent']);
  return { lan, marker, mac };
}

/** Picks `label` in the BIOS menu with the arrow keys: counts the selectable lines between the
 *  first item and the wanted one on the screen. */
async function chooseInBiosMenu(pc: Pc, screen: string, wanted: string): Promise<void> {
  const lines = screen.split('\n');
  const first = lines.findIndex((l) => /Disk of seat pc1/.test(l));
  const target = lines.findIndex((l) => l.includes(wanted));
  assert.ok(first >= 0 && target > first, `menu lines:\n${screen}`);
  // "ISO library:" is a gap (not selectable): the cursor skips it.
  const gaps = lines.slice(first, target).filter((l) => /ISO library:/.test(l)).length;
  await pc.sendKeys(...Array<string>(target - first - gaps).fill('down'), 'ret');
}

/** Boots `iso` on `firmware` through `via` and checks the VM shows it booted. */
export async function bootIso(t: TestContext, iso: IsoName, firmware: Firmware, via: IsoPath, mac: string): Promise<void> {
  const started = Date.now();
  const { lan, marker } = await isoLan(t, mac);
  const name = LIBRARY_NAME[iso];
  if (via === 'once') {
    assert.match(await lan.cli(['seat', 'boot', 'pc1', '--once', `iso:${name}`]), /next boot iso:isos\//);
  } else if (firmware === 'bios') {
    // Waits for a key: the test picks the entry with the arrow keys.
    await lan.cli(['seat', 'menu', 'pc1', 'on', '--timeout', '0']);
  } else {
    // OVMF's text console is not readable here (iPXE draws on the framebuffer): the menu's
    // timeout and default pick the ISO.
    await lan.cli(['seat', 'menu', 'pc1', 'on', '--timeout', '3', '--default', `iso:${name}`]);
  }
  const pc = await startPc(lan, t, { mac, firmware });
  if (via === 'menu' && firmware === 'bios') {
    const screen = await pc.waitForScreen('the boot menu', /choose what to boot[\s\S]*ipxe\.iso[\s\S]*memtest86\.iso/, ISO_BOOT_TIMEOUT_MS);
    await chooseInBiosMenu(pc, screen, name);
  }
  const shot = path.join(lan.work, `${iso}-${firmware}-${via}.ppm`);
  if (iso === 'memtest') {
    if (firmware === 'bios') {
      await pc.waitForScreen('memtest86+ on the screen', /Memtest86\+ v\d/, ISO_BOOT_TIMEOUT_MS);
    } else {
      await waitFor(
        'memtest86+ on the screen (its blue background)',
        async () => {
          await pc.screendump(shot);
          return (await colourShare(shot, [0, 0, 170])) > 0.5 && (await colourShare(shot, [170, 170, 170])) > 0.01 ? true : undefined;
        },
        ISO_BOOT_TIMEOUT_MS,
        3000,
      );
    }
  } else {
    await waitFor(
      'a second iPXE DHCP exchange after the ISO',
      async () => {
        const events = await lan.bootEvents(mac);
        const ipxeDhcp = events.filter((e) => e.step === 'dhcp-request' && /^ipxe:/.test(e.detail)).reduce((n, e) => n + ((e as { count?: number }).count ?? 1), 0);
        return ipxeDhcp >= 2 ? true : undefined;
      },
      ISO_BOOT_TIMEOUT_MS,
      2000,
    ).catch(async (error: Error) => {
      await pc.screendump(shot).catch(() => undefined);
      throw new Error(`${error.message} (screendump: ${shot})\nboot timeline: ${JSON.stringify(await lan.bootEvents(mac))}\nlanboot:\n${lan.logs().slice(-3000)}`);
    });
    if (firmware === 'bios') {
      // The ISO's iPXE fetched the seat's script again: the one-shot choice is spent (or the
      // menu waits again), and the usual boot runs the disk.
      if (via === 'once') await pc.waitForScreen('the disk booted after the ISO', new RegExp(marker), ISO_BOOT_TIMEOUT_MS);
    }
  }
  await pc.screendump(shot).catch(() => undefined);
  const events = await lan.bootEvents(mac);
  const scripts = events.filter((e) => e.step === 'http-script').map((e) => e.detail);
  t.diagnostic(`${iso} on ${firmware} via ${via}: booted in ${Math.round((Date.now() - started) / 1000)} s; scripts: ${scripts.join(' | ')}`);
  if (via === 'once') {
    assert.ok(scripts.some((d) => d.startsWith(`once: ${name}`)), scripts.join(' | '));
    assert.match(await lan.cli(['seat', 'show', 'pc1']), /next boot\s+as usual/, 'the one-shot choice is spent');
  } else {
    assert.ok(scripts.some((d) => d.startsWith('menu')), scripts.join(' | '));
  }
  assert.ok(fs.existsSync(shot));
}
