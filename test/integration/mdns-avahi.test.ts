// When avahi-daemon runs on the box, lanboot must not start a second mDNS responder: it writes
// an Avahi static service file for the web UI instead, and removes it at stop. The detection
// looks at avahi-daemon's socket and pid file (paths given here, real files and a real
// process: this test's own pid stands for a live daemon).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { AVAHI_SERVICE_FILE_NAME, avahiDaemonRunning, MdnsService } from '../../src/discovery/mdns-service.js';
import type { StartContext } from '../../src/supervisor/service.js';

function tempDir(t: { after(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-avahi-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('avahi-daemon detection: its socket, or a pid file naming a live process', async (t) => {
  const dir = tempDir(t);
  const socket = path.join(dir, 'socket');
  const pidFile = path.join(dir, 'pid');
  assert.equal(avahiDaemonRunning(socket, pidFile), false, 'nothing there');
  fs.writeFileSync(pidFile, '999999999\n');
  assert.equal(avahiDaemonRunning(socket, pidFile), false, 'a stale pid file');
  fs.writeFileSync(pidFile, 'not a pid');
  assert.equal(avahiDaemonRunning(socket, pidFile), false);
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  assert.equal(avahiDaemonRunning(socket, pidFile), true, 'a live pid');
  fs.rmSync(pidFile);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(() => server.close());
  assert.equal(avahiDaemonRunning(socket, pidFile), true, 'the daemon socket');
});

test('with avahi-daemon running: an Avahi service file instead of a second responder', async (t) => {
  const dir = tempDir(t);
  const previous = process.env.LANBOOT_MDNS_RESPONDER;
  delete process.env.LANBOOT_MDNS_RESPONDER;
  t.after(() => {
    if (previous !== undefined) process.env.LANBOOT_MDNS_RESPONDER = previous;
  });
  const service = new MdnsService({ interfaceName: 'eth0', avahiRunning: () => true, avahiServicesDir: dir });
  await service.start({ logger: pino({ level: 'silent' }), httpPort: 8123 } as unknown as StartContext);
  const file = path.join(dir, AVAHI_SERVICE_FILE_NAME);
  const xml = fs.readFileSync(file, 'utf8');
  assert.match(xml, /<type>_http\._tcp<\/type>/);
  assert.match(xml, /<port>8123<\/port>/);
  assert.match(xml, /<txt-record>path=\/<\/txt-record>/);
  assert.match(xml, /<name>lanboot<\/name>/);
  assert.deepEqual(fs.readdirSync(dir), [AVAHI_SERVICE_FILE_NAME], 'written atomically: no temp file left');
  const status = service.status();
  assert.equal(status.mode, 'avahi');
  assert.equal(status.hostname, `${os.hostname()}.local`);
  assert.equal(status.avahiServiceFile, file);
  await service.stop();
  assert.equal(fs.existsSync(file), false, 'removed at stop');

  // An unwritable services directory: reported in status, the start does not fail.
  const blocked = new MdnsService({ interfaceName: 'eth0', avahiRunning: () => true, avahiServicesDir: path.join(dir, 'missing', 'dir') });
  await blocked.start({ logger: pino({ level: 'silent' }), httpPort: 8123 } as unknown as StartContext);
  assert.match(blocked.status().error ?? '', /cannot write .*lanboot\.service/);
  await blocked.stop();
});
