// The boot menu, the one-shot next boot and install seats, through an in-process supervisor
// (recording engine, real SQLite, the real local API through the CLI's code, the LAN HTTP
// port fetched like iPXE does). What a PC boots is read from the script text it gets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BootService } from '../../src/boot/service.js';
import { sanBootScript, unknownPcMenuScript, type ScriptTarget } from '../../src/boot/ipxe-script.js';
import { parseBootChoice, parseIsoName } from '../../src/seats/boot-options.js';
import { startFixture } from './support/supervisor-fixture.js';

const MAC = '52:54:00:cc:00:01';
const SOURCE_ISO = '/usr/lib/ipxe/ipxe.iso';

function settings(menuOn: boolean) {
  return { listen: '0.0.0.0', dhcp: { mode: 'off' }, scriptOwnerCheck: 'neighbor', menu: { on: menuOn, timeoutSeconds: 7 } } as const;
}

async function boxWithIso(t: { after(fn: () => unknown): void }, menuOn = false) {
  const f = await startFixture(t, { services: [new BootService(settings(menuOn))] });
  const ok = async (args: string[]) => {
    const r = await f.cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['image', 'import', SOURCE_ISO, '--name', 'tools', '--iso-name', 'ipxe.iso']);
  const golden = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(golden, Buffer.alloc(1024 * 1024, 0x5a));
  await ok(['image', 'import', golden, '--name', 'golden']);
  const status = JSON.parse(await ok(['status', '--json'])) as { http: { port: number } };
  const script = async (mac = MAC, route = 'boot.ipxe') => {
    const r = await fetch(`http://127.0.0.1:${status.http.port}/${route}?mac=${mac}`);
    assert.equal(r.status, 200);
    return r.text();
  };
  return { f, ok, script, port: status.http.port };
}

test('a seat boots its disk; --once boots an ISO, local or the menu for one boot, then the disk again', async (t) => {
  const { f, ok, script, port } = await boxWithIso(t);
  await ok(['seat', 'add', '--name', 'pc1', '--image', 'golden', '--mac', MAC, '--mode', 'persistent']);
  assert.match(await script(), /^sanboot iscsi:127\.0\.0\.1::\d+:0:\S+ \|\| goto failed$/m);
  assert.doesNotMatch(await script(), /^menu /m);

  // The client alias works too; the seat shows what is pending.
  assert.match(await ok(['client', 'boot', 'pc1', '--once', 'iso:tools/ipxe.iso']), /next boot iso:tools\/ipxe\.iso \(once/);
  const shown = JSON.parse(await ok(['seat', 'show', 'pc1', '--json'])) as { boot: { once: string | null } };
  assert.equal(shown.boot.once, 'iso:tools/ipxe.iso');
  const isoBoot = await script();
  assert.match(isoBoot, new RegExp(`^sanboot http://127\\.0\\.0\\.1:${port}/iso/tools/ipxe\\.iso \\|\\|$`, 'm'));
  // A small ISO iPXE cannot SAN-boot (floppy emulation) is loaded into memory by memdisk,
  // on BIOS only.
  assert.match(isoBoot, /^iseq \$\{platform\} pcbios \|\| goto failed$/m);
  assert.match(isoBoot, new RegExp(`^kernel http://127\\.0\\.0\\.1:${port}/ipxe/memdisk iso raw \\|\\| goto failed\ninitrd http://127\\.0\\.0\\.1:${port}/iso/tools/ipxe\\.iso \\|\\| goto failed\nboot \\|\\| goto failed$`, 'm'));
  assert.doesNotMatch(isoBoot, /sanboot iscsi:/, 'an ISO boots without the disk');
  assert.match(await script(), /^sanboot iscsi:/m, 'the next boot is the usual one again');
  assert.equal((JSON.parse(await ok(['seat', 'show', 'pc1', '--json'])) as { boot: { once: string | null } }).boot.once, null);

  // A bare file name is enough when it names one ISO of the library.
  assert.match(await ok(['seat', 'boot', 'pc1', '--once', 'iso:ipxe.iso']), /iso:tools\/ipxe\.iso/);
  await ok(['seat', 'boot', 'pc1', '--once', 'local']);
  assert.match(await script(), /^sanboot --no-describe --drive 0x80 \|\|$/m);
  await ok(['seat', 'boot', 'pc1', '--once', 'menu']);
  const menu = await script();
  assert.match(menu, /^choose --timeout 7000 --default disk selected \|\| goto disk$/m);
  assert.match(menu, /^item iso0 tools\/ipxe\.iso$/m);
  assert.match(menu, /^item --key l local /m);
  // Cancelled before the boot: nothing pending.
  await ok(['seat', 'boot', 'pc1', '--once', 'disk']);
  assert.match(await ok(['seat', 'boot', 'pc1', '--cancel']), /next boot as usual/);
  assert.doesNotMatch(await script(), /^menu /m);

  // Bad choices: one line each, nothing stored.
  for (const [args, message] of [
    [['seat', 'boot', 'pc1', '--once', 'iso:tools/nothere.iso'], /no ISO tools\/nothere\.iso in the library/],
    [['seat', 'boot', 'pc1', '--once', 'iso:tools/x.iso; reboot'], /expected an ISO of the library/],
    [['seat', 'boot', 'pc1', '--once', 'shell'], /once: expected one of disk, local, menu, iso:NAME/],
    [['seat', 'boot', 'pc1'], /give --once/],
    [['seat', 'menu', 'pc1', 'maybe'], /menu: expected on, off or default/],
    [['seat', 'menu', 'pc1', 'on', '--timeout', '99999'], /timeout: expected seconds/],
    [['seat', 'menu', 'pc1', 'on', '--default', 'menu'], /default: expected one of disk, local, iso:NAME/],
  ] as [string[], RegExp][]) {
    const r = await f.cli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /^lanboot: [^\n]+\n$/);
    assert.match(r.stderr, message);
  }
  assert.equal((JSON.parse(await ok(['seat', 'show', 'pc1', '--json'])) as { boot: { once: string | null; menu: string | null } }).boot.menu, null);
});

test('the menu per seat and for the box: timeout, default entry, and unknown PCs get enroll first', async (t) => {
  const { ok, script } = await boxWithIso(t, true);
  // Unknown PC with the box's menu on: enroll is the default; its wait never shows the menu.
  const unknown = await script('52:54:00:cc:00:99');
  assert.match(unknown, /^choose --timeout 7000 --default enroll selected \|\| goto enroll$/m);
  assert.match(unknown, /^chain --replace --autofree http:\/\/127\.0\.0\.1:\d+\/enroll\.ipxe\?mac=\$\{netX\/mac:hexhyp\} \|\| goto failed$/m);
  assert.match(unknown, /^item iso0 tools\/ipxe\.iso$/m);
  const wait = await script('52:54:00:cc:00:99', 'enroll.ipxe');
  assert.doesNotMatch(wait, /^menu /m);
  assert.match(wait, /enroll\.ipxe\?mac=/);

  await ok(['seat', 'add', '--name', 'pc1', '--image', 'golden', '--mac', MAC]);
  assert.match(await script(), /^choose --timeout 7000 --default disk /m, 'the box has the menu on');
  await ok(['seat', 'menu', 'pc1', 'on', '--timeout', '3', '--default', 'iso:tools/ipxe.iso']);
  assert.match(await script(), /^choose --timeout 3000 --default iso0 selected \|\| goto iso0$/m);
  await ok(['seat', 'menu', 'pc1', 'off']);
  assert.doesNotMatch(await script(), /^menu /m, 'the seat turns it off for itself');
  await ok(['seat', 'menu', 'pc1', 'default', '--timeout', 'default', '--default', 'local']);
  assert.match(await script(), /^choose --timeout 7000 --default local /m);
});

test('an install seat boots its installer ISO with the disk hooked until the disk has a boot signature', async (t) => {
  const { f, ok, script, port } = await boxWithIso(t);
  const added = JSON.parse(await ok(['seat', 'add', '--name', 'inst', '--mode', 'install', '--size', '64M', '--iso', 'tools/ipxe.iso', '--mac', MAC, '--json'])) as {
    targetIqn: string;
    boot: { installIso: string; diskBootable: boolean };
  };
  assert.equal(added.boot.installIso, 'iso:tools/ipxe.iso');
  assert.equal(added.boot.diskBootable, false);
  let text = await script();
  assert.match(text, /^choose --timeout 7000 --default install selected \|\| goto install$/m, 'a blank disk: the installer by default');
  const install = text.slice(text.indexOf(':install\n'));
  assert.match(install, /set keep-san 1\nsanhook --drive 0x80 iscsi:\S+ \|\| goto failed\n/);
  assert.match(install, new RegExp(`sanboot http://127\\.0\\.0\\.1:${port}/iso/tools/ipxe\\.iso \\|\\| goto failed`));

  // The installer writes an MBR: from now on the disk is the default, the installer one entry away.
  const sector = Buffer.alloc(512);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  f.engine().diskStart.set(added.targetIqn, sector);
  text = await script();
  assert.match(text, /^choose --timeout 7000 --default disk /m);
  assert.match(text, /^item --key i install Install: attach the disk, boot tools\/ipxe\.iso$/m);
  assert.match(await ok(['seat', 'show', 'inst']), /disk\s+bootable/);

  // Refused: an ISO for a seat that is not an install seat; an ISO that is not in the library.
  for (const [args, message] of [
    [['seat', 'add', '--name', 'x1', '--image', 'golden', '--iso', 'tools/ipxe.iso'], /iso: only an install seat/],
    [['seat', 'add', '--name', 'x2', '--mode', 'install', '--size', '1G', '--iso', 'tools/none.iso'], /no ISO tools\/none\.iso/],
  ] as [string[], RegExp][]) {
    const r = await f.cli(args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, message);
  }
  assert.equal((await f.cli(['seat', 'show', 'x2'])).code, 1, 'nothing was made');
});

test('no ISO or seat name can put an iPXE command into a script', () => {
  for (const hostile of ['a b.iso', 'x.iso||shell', 'x.iso;reboot', '${x}.iso', 'tools/../x.iso', 'tools/x.iso\nshell', 'TOOLS/x.iso', 'tools/x.iso#']) {
    assert.throws(() => parseIsoName(hostile, 'iso'), /expected an ISO of the library/, hostile);
    assert.throws(() => parseBootChoice(`iso:${hostile}`, 'once', ['iso']), /expected an ISO/, hostile);
  }
  // The last line of defence: whatever reaches the script writer is checked again.
  const seat = { seatName: 'pc1', mode: 'fresh' as const, server: '10.0.0.1', iscsiPort: 3260, lun: 0, targetIqn: 'iqn.2024-01.local.lanboot:pc1', initiatorIqn: 'iqn.2024-01.local.lanboot:init.pc1', chap: null, mutualChap: null, retryUrl: 'http://10.0.0.1/boot.ipxe?mac=x' };
  const evil: ScriptTarget = { kind: 'iso', iso: { name: 'x.iso || shell', url: 'http://10.0.0.1/iso/x/x.iso' } };
  assert.throws(() => sanBootScript(seat, { kind: 'menu', entries: [{ kind: 'disk' }, evil], defaultIndex: 0, timeoutSeconds: 5 }), /LANBOOT_BOOT_SCRIPT_UNSAFE|characters an iPXE script cannot carry/);
  // A big ISO (an installer) gets no memdisk fallback: it would not fit in memory.
  const big = sanBootScript(seat, { kind: 'direct', target: { kind: 'iso', iso: { name: 'w/win.iso', url: 'http://10.0.0.1/iso/w/win.iso' } } });
  assert.match(big, /^sanboot http:\/\/10\.0\.0\.1\/iso\/w\/win\.iso \|\| goto failed$/m);
  assert.doesNotMatch(big, /memdisk/);
  const evilMemdisk: ScriptTarget = { kind: 'iso', iso: { name: 'x/x.iso', url: 'http://10.0.0.1/iso/x/x.iso', memdiskUrl: 'http://10.0.0.1/ipxe/memdisk iso raw' } };
  assert.throws(() => sanBootScript(seat, { kind: 'direct', target: evilMemdisk }), /cannot carry safely/);
  const evilUrl: ScriptTarget = { kind: 'iso', iso: { name: 'x/x.iso', url: 'http://10.0.0.1/iso/x/${shell}.iso' } };
  assert.throws(() => sanBootScript(seat, { kind: 'direct', target: evilUrl }), /cannot carry safely/);
  assert.throws(() => unknownPcMenuScript({ code: 'ABC DEF', mac: '52:54:00:00:00:01', enrollUrlBase: 'http://x/enroll.ipxe', entries: [], timeoutSeconds: 5, retryUrl: 'http://x/b' }), /cannot carry safely/);
  // 50 ISOs: one item and one section each, labels iso0..iso49, never a name as a label.
  const many: ScriptTarget[] = Array.from({ length: 50 }, (_, i) => ({ kind: 'iso', iso: { name: `img-${i}/disc-${i}.iso`, url: `http://10.0.0.1/iso/img-${i}/disc-${i}.iso` } }));
  const text = sanBootScript(seat, { kind: 'menu', entries: [{ kind: 'disk' }, ...many, { kind: 'local' }], defaultIndex: 0, timeoutSeconds: 5 });
  assert.equal(text.match(/^item iso\d+ /gm)?.length, 50);
  assert.match(text, /^:iso49$/m);
  assert.equal(text.match(/^goto \$\{selected\}$/gm)?.length, 1);
});
