// HTTP boot and enrollment with the real supervisor: an unknown MAC gets
// the enrollment script and shows up in `lanboot waiting`; `lanboot enroll` makes its next
// fetch a sanboot script whose CHAP secret changes at every fetch (the old one refused by a
// real initiator, iscsi-inq); a fresh seat's writes are gone after a fetch (qemu-io/qemu-img
// over iscsi://); another MAC never sees the seat; bad MACs get 400; the iPXE binaries are
// served over HTTP and TFTP (tftp-hpa). Loopback only, ephemeral ports.
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { importImage, startLanboot, type SeatInfo } from '../helpers/supervisor.js';
import { makeGoldenImage } from '../helpers/images.js';
import { libiscsiUrl, type IscsiDisk } from '../helpers/iscsi-disk.js';
import { assertSameDisk, goldenContent, qemuIo, readWholeDisk } from '../helpers/qemu-block.js';
import { describeRun, requireTools, runTool, tempDir } from '../helpers/tools.js';

const IMAGE_BYTES = 8 * 1024 * 1024;
const AUTHENTICATION_FAILURE = /Authentication failure\(513\)/; // RFC 7143 11.13.5, 0x0201
const NOT_ALLOWED = /Authentication failure\(513\)|Authorization failure\(514\)|Target not found\(515\)/;

interface SanBootScript {
  initiatorIqn: string;
  user: string;
  secret: string;
  host: string;
  port: number;
  lun: number;
  targetIqn: string;
}

/** Reads what a PC would act on out of a sanboot script. */
function parseSanBoot(script: string): SanBootScript {
  const one = (re: RegExp, what: string) => {
    const m = re.exec(script);
    assert.ok(m, `${what} missing from the script:\n${script}`);
    return m;
  };
  const uri = one(/^sanboot iscsi:([0-9.]+)::(\d+):(\d+):(\S+) \|\| goto failed$/m, 'sanboot line');
  return {
    initiatorIqn: one(/^set initiator-iqn (\S+)$/m, 'initiator-iqn')[1]!,
    user: one(/^set username (\S+)$/m, 'username')[1]!,
    secret: one(/^set password (\S+)$/m, 'password')[1]!,
    host: uri[1]!,
    port: Number(uri[2]),
    lun: Number(uri[3]),
    targetIqn: uri[4]!,
  };
}

function diskFromScript(s: SanBootScript): IscsiDisk {
  return { server: 'lanboot', host: s.host, port: s.port, targetIqn: s.targetIqn, lun: s.lun, initiatorIqns: [s.initiatorIqn], chap: { user: s.user, secret: s.secret } };
}

test('HTTP boot: enrollment, per-fetch CHAP secrets, fresh seats, isolation, bad input', { timeout: 600_000 }, async (t) => {
  requireTools('qemu-img', 'qemu-io', 'iscsi-inq', 'tftp');
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  // TFTP on an ephemeral port (the child inherits the variable); restored right after the start.
  const previousTftpPort = process.env['LANBOOT_TFTP_PORT'];
  process.env['LANBOOT_TFTP_PORT'] = '0';
  let lanboot;
  try {
    lanboot = await startLanboot(t);
  } finally {
    if (previousTftpPort === undefined) delete process.env['LANBOOT_TFTP_PORT'];
    else process.env['LANBOOT_TFTP_PORT'] = previousTftpPort;
  }
  await importImage(lanboot, golden.path, 'golden');
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const fetchScript = async (query: string) => {
    const response = await fetch(`${base}/boot.ipxe${query}`);
    return { status: response.status, type: response.headers.get('content-type'), cache: response.headers.get('cache-control'), text: await response.text() };
  };
  const macA = '52:54:00:12:34:56';
  const macB = '52:54:00:65:43:21';

  let code = '';
  await t.test('an unknown MAC gets the enrollment script with a stable code and is listed as waiting', async () => {
    const first = await fetchScript('?mac=52-54-00-12-34-56');
    assert.equal(first.status, 200, first.text);
    assert.match(first.type ?? '', /^text\/plain/);
    assert.equal(first.cache, 'no-store');
    assert.match(first.text, /^#!ipxe\n/);
    const m = /^echo Enrollment code: ([A-Z0-9]{6})$/m.exec(first.text);
    assert.ok(m, first.text);
    code = m[1]!;
    assert.match(first.text, new RegExp(`^chain --replace --autofree ${base.replaceAll('.', '\\.')}/boot\\.ipxe\\?mac=\\$\\{netX/mac:hexhyp\\} \\|\\| goto wait$`, 'm'));
    assert.doesNotMatch(first.text, /sanboot|password|iqn\./);
    const again = await fetchScript(`?mac=${macA.toUpperCase()}`);
    assert.match(again.text, new RegExp(`^echo Enrollment code: ${code}$`, 'm'), 'the code is stable while the PC waits');

    const waiting = await lanboot.cliJson<{ mac: string; code: string; firstSeen: string }[]>(['waiting', '--json']);
    const entry = waiting.find((w) => w.mac === macA);
    assert.ok(entry, JSON.stringify(waiting));
    assert.equal(entry.code, code);
    assert.ok(!Number.isNaN(Date.parse(entry.firstSeen)));
    const table = await lanboot.cli(['waiting']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${code}\\s+${macA}`));
  });

  await t.test('without a MAC, /boot.ipxe asks iPXE to fetch again with its MAC', async () => {
    const probe = await fetchScript('');
    assert.equal(probe.status, 200);
    assert.equal(probe.text, `#!ipxe\nchain --replace --autofree ${base}/boot.ipxe?mac=\${netX/mac:hexhyp}\n`);
  });

  await t.test('bad MACs get 400 with a plain message', async () => {
    for (const bad of ['zz', '52:54:00:12:34', '52:54:00:12:34:56:78', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '52:54:00:12:34:5g', 'x'.repeat(5000), '52:54:00:12:34:56%0aecho', '']) {
      const r = await fetchScript(`?mac=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, `mac ${JSON.stringify(bad.slice(0, 40))}: ${r.text}`);
      assert.match(r.type ?? '', /^text\/plain/);
      assert.ok(r.text.length < 300, 'the answer does not echo a long input back');
      assert.doesNotMatch(r.text, /#!ipxe/);
    }
    const waiting = await lanboot.cliJson<{ mac: string }[]>(['waiting', '--json']);
    assert.deepEqual(waiting.map((w) => w.mac), [macA], 'bad requests add nobody to the waiting list');
  });

  await t.test('enroll CODE creates the seat with that MAC and removes the PC from the waiting list', async () => {
    const bad = await lanboot.cli(['enroll', 'ACDEFH', '--name', 'pc-1', '--image', 'golden']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^lanboot: no PC is waiting with code ACDEFH/);
    const r = await lanboot.cli(['enroll', code.toLowerCase(), '--name', 'pc-1', '--image', 'golden', '--mode', 'fresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`PC ${macA} enrolled as seat pc-1`));
    const seat = await lanboot.cliJson<SeatInfo & { mac: string; mode: string }>(['client', 'show', 'pc-1', '--json']);
    assert.equal(seat.mac, macA);
    assert.equal(seat.mode, 'fresh');
    const waiting = await lanboot.cliJson<{ mac: string }[]>(['waiting', '--json']);
    assert.ok(!waiting.some((w) => w.mac === macA), JSON.stringify(waiting));
  });

  let firstBoot: SanBootScript | undefined;
  let secondBoot: SanBootScript | undefined;
  await t.test('the next fetch is a sanboot script of that seat; the CHAP secret differs at each fetch', async () => {
    const seat = await lanboot.cliJson<SeatInfo>(['client', 'show', 'pc-1', '--json']);
    const one = await fetchScript(`?mac=${macA}`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.cache, 'no-store');
    firstBoot = parseSanBoot(one.text);
    assert.equal(firstBoot.targetIqn, seat.targetIqn);
    assert.equal(firstBoot.initiatorIqn, seat.initiatorIqns[0]);
    assert.equal(firstBoot.host, '127.0.0.1', 'the address the PC fetched the script from');
    assert.equal(firstBoot.port, lanboot.iscsiPort);
    assert.equal(firstBoot.lun, 0);
    assert.equal(firstBoot.user, seat.chap?.user);
    const two = await fetchScript(`?mac=${macA}`);
    secondBoot = parseSanBoot(two.text);
    assert.notEqual(secondBoot.secret, firstBoot.secret, 'a fresh CHAP secret per fetch');
    assert.equal(secondBoot.targetIqn, firstBoot.targetIqn);
  });

  await t.test('iscsi-inq: the old secret is refused, the current one logs in', async () => {
    const disk = diskFromScript(secondBoot!);
    const old = await runTool('iscsi-inq', ['-i', firstBoot!.initiatorIqn, libiscsiUrl(disk, { user: firstBoot!.user, secret: firstBoot!.secret })], { timeoutMs: 30_000 });
    assert.notEqual(old.code, 0, describeRun('iscsi-inq with the previous boot secret', old));
    assert.match(old.stdout + old.stderr, AUTHENTICATION_FAILURE, describeRun('iscsi-inq with the previous boot secret', old));
    const current = await runTool('iscsi-inq', ['-i', secondBoot!.initiatorIqn, libiscsiUrl(disk)], { timeoutMs: 30_000 });
    assert.equal(current.code, 0, describeRun('iscsi-inq with the current secret', current));
    assert.match(current.stdout, /DIRECT_ACCESS/);
  });

  await t.test("a fresh seat's writes are gone after the next script fetch", async () => {
    const disk = diskFromScript(secondBoot!);
    await qemuIo(disk, ['write -P 0xa5 65536 131072', 'write -P 0x3c 700 100', 'flush']);
    await qemuIo(disk, ['read -P 0xa5 65536 131072']);
    const written = goldenContent(golden);
    written.fill(0xa5, 65536, 65536 + 131072);
    written.fill(0x3c, 700, 800);
    assertSameDisk(await readWholeDisk(disk, work), written, 'seat before the next boot');
    const next = parseSanBoot((await fetchScript(`?mac=${macA}`)).text);
    assertSameDisk(await readWholeDisk(diskFromScript(next), work), goldenContent(golden), 'fresh seat after a boot-script fetch');
    secondBoot = next;
  });

  await t.test('a persistent seat keeps its writes across fetches', async () => {
    const first = await fetchScript(`?mac=${macB}`);
    const codeB = /^echo Enrollment code: ([A-Z0-9]{6})$/m.exec(first.text)?.[1];
    assert.ok(codeB && codeB !== code, first.text);
    const r = await lanboot.cli(['enroll', codeB, '--name', 'pc-2', '--image', 'golden', '--mode', 'persistent']);
    assert.equal(r.code, 0, r.stderr);
    const boot1 = parseSanBoot((await fetchScript(`?mac=${macB}`)).text);
    await qemuIo(diskFromScript(boot1), ['write -P 0x77 1048576 4096', 'flush']);
    const boot2 = parseSanBoot((await fetchScript(`?mac=${macB}`)).text);
    assert.notEqual(boot2.secret, boot1.secret);
    await qemuIo(diskFromScript(boot2), ['read -P 0x77 1048576 4096']);
  });

  await t.test("another MAC never sees this seat's script, secret or data", async () => {
    const a = parseSanBoot((await fetchScript(`?mac=${macA}`)).text);
    const bText = (await fetchScript(`?mac=${macB}`)).text;
    const b = parseSanBoot(bText);
    assert.notEqual(b.targetIqn, a.targetIqn);
    for (const secretOfA of [a.targetIqn, a.initiatorIqn, a.secret, 'pc-1']) assert.ok(!bText.includes(secretOfA), `B's script mentions ${secretOfA}`);
    const stranger = (await fetchScript('?mac=52:54:00:99:99:99')).text;
    for (const secretOfA of [a.targetIqn, a.secret, b.targetIqn, b.secret, 'pc-1', 'pc-2', macA, macB]) assert.ok(!stranger.includes(secretOfA), `a stranger's script mentions ${secretOfA}`);
    // B's credentials (its initiator name and its secret) do not open A's disk.
    const intoA = await runTool('iscsi-inq', ['-i', b.initiatorIqn, libiscsiUrl(diskFromScript(a), { user: b.user, secret: b.secret })], { timeoutMs: 30_000 });
    assert.notEqual(intoA.code, 0, describeRun("iscsi-inq with B's credentials on A's disk", intoA));
    assert.match(intoA.stdout + intoA.stderr, NOT_ALLOWED);
    // B's write (0x77 at 1 MiB) is on B's disk only: A reads golden data everywhere.
    await qemuIo(diskFromScript(b), ['read -P 0x77 1048576 4096']);
    assertSameDisk(await readWholeDisk(diskFromScript(a), work), goldenContent(golden), "seat A beside seat B's writes");
  });

  await t.test('a waiting PC given a seat with `client add --mac` leaves the waiting list', async () => {
    const macC = '52:54:00:00:0c:0c';
    await fetchScript(`?mac=${macC}`);
    assert.ok((await lanboot.cliJson<{ mac: string }[]>(['waiting', '--json'])).some((w) => w.mac === macC));
    const add = await lanboot.cli(['client', 'add', '--name', 'pc-3', '--image', 'golden', '--mac', macC]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(!(await lanboot.cliJson<{ mac: string }[]>(['waiting', '--json'])).some((w) => w.mac === macC), 'listed although it has a seat');
    const script = parseSanBoot((await fetchScript(`?mac=${macC}`)).text);
    assert.match(script.targetIqn, /seat\.pc-3$/);
    const enrollAgain = await lanboot.cli(['enroll', 'ACDEFH', '--name', 'pc-4', '--image', 'golden']);
    assert.equal(enrollAgain.code, 1);
  });

  await t.test('boot events record the HTTP steps and the enrollment of a MAC', async () => {
    const events = await lanboot.cliJson<{ mac: string; step: string; detail: string; count: number }[]>(['boot', 'events', macA, '--json']);
    const steps = events.map((e) => e.step);
    assert.ok(steps.includes('http-script'), JSON.stringify(events));
    const enrolled = events.findIndex((e) => e.step === 'enrolled');
    assert.ok(enrolled > 0, JSON.stringify(events));
    assert.match(events[enrolled]!.detail, /seat pc-1/);
    assert.ok(events.slice(enrolled + 1).some((e) => /sanboot: seat pc-1/.test(e.detail)), 'sanboot scripts after the enrollment');
    assert.ok(events.every((e) => e.mac === macA));
    const bad = await lanboot.cli(['boot', 'events', 'nonsense']);
    assert.equal(bad.code, 1);
  });

  await t.test('iPXE binaries: HTTP allow-list and TFTP (tftp-hpa), status shows the tftp service', async () => {
    for (const name of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) {
      const response = await fetch(`${base}/ipxe/${name}`);
      assert.equal(response.status, 200, name);
      const body = Buffer.from(await response.arrayBuffer());
      assert.ok(body.equals(await fsp.readFile(path.join('/usr/lib/ipxe', name))), `${name} differs from /usr/lib/ipxe/${name}`);
    }
    for (const bad of ['ipxe.lkrn', '..%2F..%2Fetc%2Fpasswd', 'UNDIONLY.KPXE', '%2Fusr%2Flib%2Fipxe%2Fipxe.efi']) {
      const response = await fetch(`${base}/ipxe/${bad}`);
      assert.equal(response.status, 404, bad);
      await response.arrayBuffer();
    }
    const status = await lanboot.cliJson<{ services: { tftp?: { running: boolean; port: number }; boot?: { started: boolean } } }>(['status', '--json']);
    assert.equal(status.services.boot?.started, true);
    const tftp = status.services.tftp;
    assert.ok(tftp && tftp.running && tftp.port > 0, JSON.stringify(status.services));
    const out = path.join(work, 'undionly.kpxe');
    const got = await runTool('tftp', ['-m', 'binary', '127.0.0.1', String(tftp.port), '-c', 'get', 'undionly.kpxe', out], { timeoutMs: 30_000 });
    assert.equal(got.code, 0, describeRun('tftp get undionly.kpxe', got));
    assert.ok((await fsp.readFile(out)).equals(await fsp.readFile('/usr/lib/ipxe/undionly.kpxe')));
  });
});
