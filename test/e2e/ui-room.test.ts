// The room in Debian's Chromium at a phone viewport (390x844), against a real `lanboot serve`
// (native iSCSI engine, SQLite, HTTP and the wake broadcast on loopback): the Room page with
// group headers, states and search; "Wake group" puts one magic packet per member on the LAN
// interface (caught by a UDP listener on port 9); a seat that really booted (its script fetched
// over HTTP as iPXE does, then an iSCSI login with that script's CHAP secret and a write by
// qemu-io) shows its boot on the Room page and as SVG bar charts on its seat and history pages.
// Screenshots: docs/screenshots/ with LANBOOT_UPDATE_SCREENSHOTS=1, else a temp dir.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { launchPhoneBrowser } from '../helpers/browser.js';
import { qemuImageOpts, type IscsiDisk } from '../helpers/iscsi-disk.js';
import { startLanboot } from '../helpers/supervisor.js';
import { describeRun, repoRoot, runTool, waitFor } from '../helpers/tools.js';

const PASSWORD = 'lanboot room test';

async function screenshotDir(t: { after(fn: () => unknown): void }): Promise<string> {
  if (process.env.LANBOOT_UPDATE_SCREENSHOTS === '1') {
    const dir = path.join(repoRoot, 'docs', 'screenshots');
    await fsp.mkdir(dir, { recursive: true });
    return dir;
  }
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-shots-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** GET on the local API socket (the CLI's channel, no login). */
function localGet(dataDir: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: path.join(dataDir, 'lanboot.sock'), path: url }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${url}: ${res.statusCode} ${text}`))));
      })
      .on('error', reject);
  });
}

/** What a seat's sanboot script tells iPXE: the disk and the credentials of this boot. */
function diskFromScript(script: string): IscsiDisk {
  const value = (name: string) => new RegExp(`^set ${name} (\\S+)$`, 'm').exec(script)?.[1];
  const uri = /^sanboot (iscsi:\S+)/m.exec(script)?.[1];
  const m = uri ? /^iscsi:([^:]+):[^:]*:(\d+):(\d+):(\S+)$/.exec(uri) : null;
  const initiator = value('initiator-iqn');
  const user = value('username');
  const secret = value('password');
  assert.ok(m && initiator && user && secret, `not a sanboot script with CHAP:\n${script}`);
  return { server: 'lanboot', host: m[1]!, port: Number(m[2]), lun: Number(m[3]), targetIqn: m[4]!, initiatorIqns: [initiator], chap: { user, secret } };
}

test('phone UI: room with group headers and search, wake a group, a booted seat\'s history charts', { timeout: 180_000 }, async (t) => {
  // Magic packets go to 255.255.255.255:9 from a socket bound to the named interface: lo here.
  const packets: Buffer[] = [];
  const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  listener.on('message', (m) => packets.push(m));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.bind(9, '0.0.0.0', resolve);
  });
  t.after(() => listener.close());

  const lanboot = await startLanboot(t, { serveArgs: ['--interface', 'lo', '--dhcp', 'off', '--mdns', 'off'] });
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const image = path.join(lanboot.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(8 * 1024 * 1024, 0));
  assert.equal((await lanboot.cli(['image', 'import', image, '--name', 'debian'])).code, 0);
  const seats: [string, string, string][] = [
    ['cafe-1', 'cafe', '52:54:00:0c:af:01'],
    ['cafe-2', 'cafe', '52:54:00:0c:af:02'],
    ['cafe-3', 'cafe', '52:54:00:0c:af:03'],
    ['lab-1', 'lab', '52:54:00:01:ab:01'],
    ['lab-2', 'lab', '52:54:00:01:ab:02'],
  ];
  for (const [name, group, mac] of seats) {
    const r = await lanboot.cli(['seat', 'add', '--name', name, '--image', 'debian', '--mac', mac, '--group', group, '--mode', 'persistent']);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal((await lanboot.cli(['seat', 'add', '--name', 'spare', '--image', 'debian'])).code, 0);

  // cafe-1 boots for real: script fetch (opens the boot record), iSCSI login with the script's
  // CHAP secret, a 256 KiB write, a session held past one counter sample, logout.
  const scriptResponse = await fetch(`${base}/boot.ipxe?mac=52-54-00-0c-af-01`);
  assert.equal(scriptResponse.status, 200);
  const disk = diskFromScript(await scriptResponse.text());
  const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(disk), '-c', 'write -P 0x5a 0 256k', '-c', 'read 0 1M', '-c', 'sleep 2500'], { timeoutMs: 60_000 });
  assert.equal(io.code, 0, describeRun('qemu-io', io));
  const history = await waitFor(
    'the boot record to end',
    async () => {
      const r = JSON.parse(await localGet(lanboot.dataDir, '/api/v1/history?seat=cafe-1')) as { bytesWritten: number; firstWriteAt: number | null; endedAt: number | null }[];
      return r.length === 1 && r[0]!.endedAt !== null ? r : undefined;
    },
    15_000,
    250,
  );
  assert.ok(history[0]!.bytesWritten >= 256 * 1024 && history[0]!.firstWriteAt !== null, JSON.stringify(history));

  const shots = await screenshotDir(t);
  const { page } = await launchPhoneBrowser(t);
  page.setDefaultTimeout(20_000);
  const shot = (name: string, fullPage = false) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });
  await page.goto(`${base}/setup`);
  await page.fill('#password', PASSWORD);
  await page.fill('#confirm', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);

  // The Room page: one header per group (seats without a group last), each seat's state.
  await page.goto(`${base}/room`);
  const groups = await page.$$eval('section.group', (els) => els.map((el) => [el.getAttribute('data-group'), [...el.querySelectorAll('tr[data-seat]')].map((tr) => tr.getAttribute('data-seat'))]));
  assert.deepEqual(groups, [
    ['cafe', ['cafe-1', 'cafe-2', 'cafe-3']],
    ['lab', ['lab-1', 'lab-2']],
    ['', ['spare']],
  ]);
  assert.match((await page.textContent('section.group[data-group=cafe] h2')) ?? '', /cafe \(3 seats: 0 up, 0 fault\)/);
  assert.equal(await page.getAttribute('tr[data-seat=cafe-1]', 'data-state'), 'off');
  assert.match((await page.textContent('tr[data-seat=cafe-1]')) ?? '', /ago[\s\S]*up in \d+\.\d s[\s\S]*history/);
  assert.match((await page.textContent('tr[data-seat=cafe-2]')) ?? '', /never booted/);
  assert.match((await page.textContent('p.counts')) ?? '', /0 up[\s\S]*6 off/);
  // Every row fits the phone's width: no sideways scrolling.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'room page wider than the phone');
  await shot('10-room', true);

  // Search narrows the page to what matches (here a group's name).
  await page.fill('input[name=q]', 'lab');
  await page.click('form.search button');
  await page.waitForURL(/\/room\?q=lab$/);
  assert.deepEqual(await page.$$eval('tr[data-seat]', (els) => els.map((el) => el.getAttribute('data-seat'))), ['lab-1', 'lab-2']);
  await shot('11-room-search');
  await page.fill('input[name=q]', 'nothing-like-this');
  await page.click('form.search button');
  assert.match((await page.textContent('main')) ?? '', /No seat matches\./);

  // Wake a group: one packet per member, each 6x0xFF then its MAC 16 times.
  await page.goto(`${base}/room`);
  await page.click('section.group[data-group=cafe] form[action="/room/wake"] button');
  await page.waitForSelector('.notice.ok');
  assert.match((await page.textContent('.notice.ok')) ?? '', /Wake sent to group cafe: 3 PC\(s\)\./);
  await waitFor('three magic packets', async () => (packets.length >= 3 ? true : undefined), 5000);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(packets.length, 3, 'one packet per member of cafe, none for lab');
  const macsSeen = packets.map((p) => {
    assert.equal(p.length, 102);
    assert.deepEqual(p.subarray(0, 6), Buffer.alloc(6, 0xff));
    const mac = p.subarray(6, 12);
    for (let i = 1; i < 16; i += 1) assert.deepEqual(p.subarray(6 + i * 6, 12 + i * 6), mac);
    return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  });
  assert.deepEqual(macsSeen.sort(), ['52:54:00:0c:af:01', '52:54:00:0c:af:02', '52:54:00:0c:af:03']);
  await shot('12-room-wake');

  // The booted seat's page: two SVG bar charts with one bar for its one boot.
  await page.goto(`${base}/seats/cafe-1`);
  const charts = page.locator('section.boot-history figure.chart');
  assert.equal(await charts.count(), 2);
  assert.equal(await page.locator('section.boot-history svg rect').count(), 2);
  const bytesTitle = (await page.locator('section.boot-history figure.chart').nth(1).locator('rect title').textContent()) ?? '';
  assert.match(bytesTitle, /KiB written|MiB written/);
  // Every form of the seat page fits the phone's width (else the page zooms out and taps miss).
  const wide = await page.evaluate(() => [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > 391).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(wide, [], 'seat page elements wider than the phone');
  await page.locator('section.boot-history').scrollIntoViewIfNeeded();
  await shot('13-seat-history');
  await page.click('section.boot-history a[href="/seats/cafe-1/history"]');
  await page.waitForURL(`${base}/seats/cafe-1/history`);
  assert.equal(await page.locator('figure.chart svg').count(), 2);
  assert.equal(await page.locator('table tbody tr').count(), 1);
  // A seat with no boots says so instead of drawing empty charts.
  await page.goto(`${base}/seats/lab-2`);
  assert.match((await page.textContent('section.boot-history')) ?? '', /No boots recorded in the last 30 days\./);
});
