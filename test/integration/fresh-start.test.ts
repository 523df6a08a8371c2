// A fresh seat's disk under a running PC is never dropped by a boot-script fetch: anyone on
// the LAN can fetch a script. The reset happens at the first login of the new boot, which
// with CHAP only the holder of that script's secret can make; without CHAP it is skipped
// while another session is logged in. Real supervisor on loopback, iSCSI through the wire
// client so sessions can be held open across fetches and logins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importImage, startLanboot, type Lanboot } from '../helpers/supervisor.js';
import { BLOCK_SIZE, makeGoldenImage } from '../helpers/images.js';
import { goldenContent } from '../helpers/qemu-block.js';
import { expectGood, IscsiSession } from '../helpers/iscsi-wire.js';
import { tempDir } from '../helpers/tools.js';
import { refFromScript, type DiskRef } from '../helpers/boot-script.js';

const IMAGE_BYTES = 8 * 1024 * 1024;

async function login(disk: DiskRef): Promise<IscsiSession> {
  const session = await IscsiSession.open({
    host: disk.host,
    port: disk.port,
    initiatorIqn: disk.initiatorIqn,
    targetIqn: disk.targetIqn,
    ...(disk.chap ? { chap: disk.chap } : {}),
  });
  await session.clearUnitAttention();
  return session;
}

const pattern = (byte: number, blocks: number) => Buffer.alloc(blocks * BLOCK_SIZE, byte);

async function read(s: IscsiSession, lba: number, blocks: number): Promise<Buffer> {
  return expectGood(await s.read10(lba, blocks), `READ(10) lba ${lba}`).data;
}

async function write(s: IscsiSession, lba: number, data: Buffer): Promise<void> {
  expectGood(await s.write10(lba, data), `WRITE(10) lba ${lba}`);
}

/** Whether the session still answers a command (the engine ends it by closing the socket). */
async function alive(s: IscsiSession): Promise<boolean> {
  try {
    await Promise.race([
      s.read10(0, 1),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

async function sessionCount(lanboot: Lanboot, seat: string): Promise<number> {
  return (await lanboot.cliJson<{ sessions: unknown[] }>(['client', 'show', seat, '--json'])).sessions.length;
}

test('a fresh seat is reset at the first login of a new boot, never by a script fetch under a running PC', { timeout: 300_000 }, async (t) => {
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const lanboot = await startLanboot(t, { serveArgs: ['--tftp-port', '0'] });
  await importImage(lanboot, golden.path, 'shared');
  const goldenBlock = (lba: number, blocks: number) => goldenContent(golden).subarray(lba * BLOCK_SIZE, (lba + blocks) * BLOCK_SIZE);
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const bootScript = async (mac: string) => {
    const response = await fetch(`${base}/boot.ipxe?mac=${mac.replaceAll(':', '-')}`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return refFromScript(text);
  };
  const open: IscsiSession[] = [];
  t.after(() => {
    for (const s of open) s.destroy();
  });
  const held = async (disk: DiskRef) => {
    const s = await login(disk);
    open.push(s);
    return s;
  };

  await t.test('with CHAP: a fetch under a running PC keeps its disk; the new boot\'s login resets it', async () => {
    const mac = '52:54:00:00:10:01';
    assert.equal((await lanboot.cli(['client', 'add', '--name', 'pc-chap', '--image', 'shared', '--mac', mac, '--mode', 'fresh'])).code, 0);
    const firstBoot = await bootScript(mac);
    assert.ok(firstBoot.chap, 'CHAP is on by default');
    const running = await held(firstBoot);
    await write(running, 100, pattern(0x5a, 4));

    // Another host asks for the seat's script while the PC runs on its disk.
    const strangersFetch = await bootScript(mac);
    assert.deepEqual(await read(running, 100, 4), pattern(0x5a, 4), 'the running PC still reads its own write');
    assert.equal(await alive(running), true, 'the running PC keeps its session');
    assert.equal(await sessionCount(lanboot, 'pc-chap'), 1);

    // It goes on writing.
    await write(running, 200, pattern(0x33, 1));

    // The PC really reboots: its new boot logs in with the newest script's secret.
    const newBoot = await held(strangersFetch);
    assert.deepEqual(await read(newBoot, 100, 4), goldenBlock(100, 4), 'the new boot starts from golden');
    assert.deepEqual(await read(newBoot, 200, 1), goldenBlock(200, 1));
    assert.equal(await alive(running), false, 'the previous boot\'s session was ended');

    // The OS takes over from iPXE with the same credentials: no second reset.
    await write(newBoot, 300, pattern(0x77, 2));
    const os = await held(strangersFetch);
    assert.deepEqual(await read(os, 300, 2), pattern(0x77, 2), 'the second login of the same boot keeps the disk');
    assert.equal(await alive(newBoot), true, 'and leaves the first session of the boot alone');
    const logs = lanboot.logs();
    assert.match(logs, /has a logged-in session: its disk is reset at the next boot's login/);
    assert.match(logs, /fresh seat reset at the first login of a new boot/);
  });

  await t.test('with no session logged in, the fetch itself resets the disk (as before)', async () => {
    const mac = '52:54:00:00:10:02';
    assert.equal((await lanboot.cli(['client', 'add', '--name', 'pc-idle', '--image', 'shared', '--mac', mac, '--mode', 'fresh'])).code, 0);
    const boot = await bootScript(mac);
    const s = await login(boot);
    await write(s, 50, pattern(0x11, 1));
    await s.logout();
    s.destroy();
    const deltaBefore = (await lanboot.cliJson<{ deltaBytes: number }>(['client', 'show', 'pc-idle', '--json'])).deltaBytes;
    assert.ok(deltaBefore > 0, `the write is in the delta (${deltaBefore})`);
    await bootScript(mac);
    const deltaAfter = (await lanboot.cliJson<{ deltaBytes: number }>(['client', 'show', 'pc-idle', '--json'])).deltaBytes;
    assert.equal(deltaAfter, 0, 'reset at the fetch: nobody was using the disk');
  });

  await t.test('without CHAP: a login while another session is logged in never resets', async () => {
    const mac = '52:54:00:00:10:03';
    assert.equal((await lanboot.cli(['client', 'add', '--name', 'pc-open', '--image', 'shared', '--mac', mac, '--mode', 'fresh', '--no-chap'])).code, 0);
    const firstBoot = await bootScript(mac);
    assert.equal(firstBoot.chap, undefined);
    const running = await held(firstBoot);
    await write(running, 100, pattern(0x42, 1));
    const again = await bootScript(mac);
    // Without CHAP anyone can log in as the seat: that login proves no new boot.
    const other = await held(again);
    assert.deepEqual(await read(other, 100, 1), pattern(0x42, 1), 'no reset while the running PC is logged in');
    assert.equal(await alive(running), true, 'the running PC keeps its session');
    assert.match(lanboot.logs(), /fresh seat not reset at login: another session is still logged in/);
  });
});
