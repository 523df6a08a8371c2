// The web UI in Debian's Chromium at a phone viewport (390x844), against a real `lanboot
// serve` (native iSCSI engine, SQLite, HTTP on loopback): first run, login, a PC that
// network-boots appears as waiting (driven through the real HTTP boot endpoint, as iPXE
// fetches it), enrolling it from the page turns its boot script into sanboot, an image upload
// shows a progress bar and publishes a version, a seat is reset.
// Screenshots: written to docs/screenshots/ when LANBOOT_UPDATE_SCREENSHOTS=1 (the user guide
// uses them), else to a temp dir, so a test run does not rewrite committed files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { launchPhoneBrowser } from '../helpers/browser.js';
import { makeSourceDisk } from '../helpers/image-sources.js';
import { startLanboot } from '../helpers/supervisor.js';
import { describeRun, repoRoot, runTool, tempDir } from '../helpers/tools.js';

const PASSWORD = 'lanboot phone test';
const PC_MAC = '52:54:00:c0:ff:ee';
const IMAGE_BYTES = 24 * 1024 * 1024;

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

async function bootScript(base: string, mac: string): Promise<string> {
  const response = await fetch(`${base}/boot.ipxe?mac=${mac.replaceAll(':', '-')}`);
  assert.equal(response.status, 200);
  return response.text();
}

test('phone UI: first run, upload with progress, enroll a waiting PC, reset its seat, log out and in', { timeout: 180_000 }, async (t) => {
  const lanboot = await startLanboot(t);
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const shots = await screenshotDir(t);
  const { page } = await launchPhoneBrowser(t);
  page.setDefaultTimeout(20_000);
  const shot = (name: string, fullPage = false) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });

  // First run: any page leads to /setup.
  await page.goto(`${base}/seats`);
  assert.equal(new URL(page.url()).pathname, '/setup');
  await page.fill('#password', PASSWORD);
  await page.fill('#confirm', PASSWORD);
  await shot('01-setup');
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
  assert.match(await page.textContent('h1') ?? '', /Home/);

  // Upload a golden image from the phone: the progress bar shows, then the version exists.
  const file = path.join(lanboot.dataDir, 'upload.raw');
  const bytes = Buffer.alloc(IMAGE_BYTES);
  for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
  fs.writeFileSync(file, bytes);
  await page.goto(`${base}/images`);
  await page.fill('#upload-image', 'debian');
  await page.setInputFiles('#upload-file', file);
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#upload-progress:not([hidden])');
  await page.waitForFunction(() => /Published/.test(document.getElementById('upload-text')?.textContent ?? ''));
  const progress = await page.$eval('#upload-progress', (el) => ({ value: (el as HTMLProgressElement).value, max: (el as HTMLProgressElement).max }));
  assert.equal(progress.value, progress.max, 'the bar is full');
  assert.ok(progress.max >= IMAGE_BYTES, `bar max ${progress.max}`);
  await shot('03-upload');
  await page.waitForSelector('.card.image[data-image=debian]');
  const images = await lanboot.cliJson<{ name: string; latestVersion: number; versions: { sizeBytes: number }[] }[]>(['image', 'list', '--json']);
  assert.equal(images[0]?.name, 'debian');
  assert.equal(images[0]?.versions[0]?.sizeBytes, IMAGE_BYTES);
  await shot('04-images');

  // A PC network-boots while the phone shows Home: iPXE fetches its script and shows a code;
  // the phone's list picks it up by itself (no reload by the user).
  await page.goto(`${base}/`);
  assert.match((await page.textContent('#waiting')) ?? '', /No PC is waiting/);
  const waitingScript = await bootScript(base, PC_MAC);
  const code = /Enrollment code: (\S+)/.exec(waitingScript)?.[1];
  assert.ok(code, waitingScript);
  const card = page.locator(`.card.waiting[data-mac="${PC_MAC}"]`);
  await card.waitFor({ timeout: 15_000 });
  assert.equal(await card.locator('.code').textContent(), code);
  // The card's first form enrolls onto an image; the second (under "Install from ISO") makes
  // an install seat.
  const enroll = card.locator('form[action="/enroll"]').first();
  await enroll.locator('input[name=name]').fill('pc-1');
  await enroll.locator('select[name=image]').selectOption('debian');
  await enroll.locator('select[name=mode]').selectOption('persistent');
  await shot('02-waiting');
  await enroll.locator('button[type=submit]').click();
  await page.waitForSelector('.notice');
  assert.equal(new URL(page.url()).pathname, '/seats/pc-1', `after enroll: ${await page.textContent('.notice')}`);
  assert.match((await page.textContent('.notice.ok')) ?? '', /Enrolled pc-1 on debian v1/);
  // Its next poll gets the sanboot script.
  const sanboot = await bootScript(base, PC_MAC);
  assert.match(sanboot, /^sanboot /m);
  assert.match(sanboot, /iqn\.2026-11\.local\.lanboot:seat\.pc-1/);
  await page.reload();
  assert.match((await page.textContent('.timeline.boot')) ?? '', /enrolled[\s\S]*http-script/);
  await shot('05-seat', true);

  // A snapshot from the seat page, listed there.
  await page.fill('form[action="/seats/pc-1/snapshot"] input[name=label]', 'before-reset');
  await page.click('form[action="/seats/pc-1/snapshot"] button');
  await page.waitForSelector('.notice.ok');
  assert.match((await page.textContent('.notice.ok')) ?? '', /Snapshot of pc-1 taken/);
  assert.match((await page.textContent('main')) ?? '', /#1 before-reset/);

  // Reset the seat from its page.
  await page.click('form[action="/seats/pc-1/reset"] button');
  await page.waitForSelector('.notice.ok');
  assert.match((await page.textContent('.notice.ok')) ?? '', /Seat pc-1 reset/);
  const seats = await lanboot.cliJson<{ name: string; mode: string }[]>(['client', 'list', '--json']);
  assert.deepEqual(seats.map((s) => [s.name, s.mode]), [['pc-1', 'persistent']]);

  await page.goto(`${base}/seats`);
  assert.match((await page.textContent('table')) ?? '', /pc-1/);
  await shot('06-seats');
  await page.goto(`${base}/label`);
  assert.equal(await page.locator('.qr svg').count(), 1);
  await shot('07-label');

  // Log out; the UI is closed again; log in.
  await page.click('header form button');
  await page.waitForURL(`${base}/login`);
  await page.goto(`${base}/images`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.fill('#password', 'not the password');
  await page.click('button[type=submit]');
  assert.match((await page.textContent('.notice.error')) ?? '', /Wrong password/);
  await page.fill('#password', PASSWORD);
  await shot('08-login');
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
});

test('phone UI: a USB stick is offered on the Images page, imported from the page, then released', { timeout: 180_000 }, async (t) => {
  // The stick is the directory stand-in of src/storage/usb.ts (LANBOOT_USB_ALLOW_DIRECTORIES),
  // announced by the real udev notifier script from overlay/, as in usb-import.test.ts.
  const dir = await tempDir(t, 'lanboot-ui-usb-');
  const spool = path.join(dir, 'spool');
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(stick, { recursive: true });
  const raw = await makeSourceDisk(dir, 'disk.img', 32 * 1024 * 1024);
  fs.copyFileSync(raw, path.join(stick, 'classroom.img'));
  const saved = { spool: process.env.LANBOOT_USB_SPOOL, dirs: process.env.LANBOOT_USB_ALLOW_DIRECTORIES };
  process.env.LANBOOT_USB_SPOOL = spool;
  process.env.LANBOOT_USB_ALLOW_DIRECTORIES = '1';
  let lanboot;
  try {
    lanboot = await startLanboot(t);
  } finally {
    if (saved.spool === undefined) delete process.env.LANBOOT_USB_SPOOL;
    else process.env.LANBOOT_USB_SPOOL = saved.spool;
    if (saved.dirs === undefined) delete process.env.LANBOOT_USB_ALLOW_DIRECTORIES;
    else process.env.LANBOOT_USB_ALLOW_DIRECTORIES = saved.dirs;
  }
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const shots = await screenshotDir(t);
  const { page } = await launchPhoneBrowser(t);
  page.setDefaultTimeout(30_000);
  const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`) });
  await page.goto(`${base}/setup`);
  await page.fill('#password', PASSWORD);
  await page.fill('#confirm', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);

  const notifier = path.join(repoRoot, 'overlay', 'usr', 'lib', 'lanboot', 'usb-notify');
  const announced = await runTool('sh', [notifier], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANBOOT_USB_SPOOL: spool, ACTION: 'add', DEVNAME: stick, ID_FS_LABEL: 'CLASSROOM', ID_FS_TYPE: 'vfat' } });
  assert.equal(announced.code, 0, describeRun('usb-notify', announced));
  await page.goto(`${base}/images`);
  const card = page.locator('.card.usb');
  assert.match((await card.textContent()) ?? '', /CLASSROOM[\s\S]*classroom\.img \(raw, 32 MiB\)/);
  await card.locator('input[name=image]').fill('classroom');
  await shot('09-usb');
  await card.locator('button[type=submit]').last().click();
  await page.waitForSelector('.notice');
  assert.match((await page.textContent('.notice')) ?? '', /Import of classroom started/);
  // A running job shows a bar; the page reloads itself when the job ends.
  await page.waitForSelector('.card.image[data-image=classroom]');
  const images = await lanboot.cliJson<{ name: string; versions: { sizeBytes: number; source?: string }[] }[]>(['image', 'list', '--json']);
  assert.equal(images.find((i) => i.name === 'classroom')?.versions[0]?.sizeBytes, 32 * 1024 * 1024);
  assert.match((await page.textContent('.timeline')) ?? '', /classroom\s*done/);

  await page.click('.card.usb form[action$="/release"] button');
  await page.waitForSelector('.notice.ok');
  assert.match((await page.textContent('.notice.ok')) ?? '', /can be removed now/);
});
