// What `lanboot serve` shows a person at a terminal: readable log lines (pino-pretty), the web
// UI's addresses and the first step once ready (src/supervisor/serve.ts, src/log/logger.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/logger.js';
import { readyMessage, webUiUrls } from '../../src/supervisor/serve.js';

const nic = (address: string, internal = false): os.NetworkInterfaceInfo => ({ address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '52:54:00:00:00:01', cidr: `${address}/24` });

test('web UI URLs: each LAN address when listening on all, the listen address otherwise', () => {
  const interfaces = { lo: [nic('127.0.0.1', true)], eth0: [nic('192.168.1.10')], eth1: [nic('10.0.0.2')] };
  assert.deepEqual(webUiUrls('0.0.0.0', 8080, interfaces), ['http://192.168.1.10:8080/', 'http://10.0.0.2:8080/']);
  assert.deepEqual(webUiUrls('0.0.0.0', 80, interfaces), ['http://192.168.1.10/', 'http://10.0.0.2/']);
  assert.deepEqual(webUiUrls('10.0.0.2', 8080, interfaces), ['http://10.0.0.2:8080/']);
  assert.deepEqual(webUiUrls('0.0.0.0', 8080, { lo: [nic('127.0.0.1', true)] }), ['http://127.0.0.1:8080/']);
});

test('the ready message names the UI and the next step for how far the box is set up', () => {
  const config = loadConfig({ flags: { data: '/tmp/lb' }, env: {}, cwd: '/tmp', isRoot: false });
  const urls = ['http://192.168.1.10:8080/'];
  const fresh = readyMessage(config, 8080, { adminPasswordSet: false, images: 0, seats: 0 }, urls);
  assert.match(fresh, /Open the web UI:\n {2}http:\/\/192\.168\.1\.10:8080\//);
  assert.match(fresh, /First step: open the web UI and set the admin password/);
  assert.match(fresh, /--interface IF/, 'no DHCP yet: says how PCs get to boot');
  assert.match(readyMessage(config, 8080, { adminPasswordSet: true, images: 0, seats: 0 }, urls), /import a golden image/);
  assert.match(readyMessage(config, 8080, { adminPasswordSet: true, images: 1, seats: 0 }, urls), /enroll it with the code/);
  const done = readyMessage(config, 8080, { adminPasswordSet: true, images: 1, seats: 3 }, urls);
  assert.doesNotMatch(done, /step/);
  const lan = loadConfig({ flags: { data: '/tmp/lb', interface: 'eth0' }, env: {}, cwd: '/tmp', isRoot: true });
  const onLan = readyMessage(lan, 80, { adminPasswordSet: true, images: 1, seats: 3 }, ['http://192.168.1.10/']);
  assert.match(onLan, /http:\/\/lanboot\.local\/ \(mDNS\)/);
  assert.doesNotMatch(onLan, /--interface IF/);
});

test('pretty logs are readable lines; json logs stay one JSON object per line', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (format: 'json' | 'pretty') => {
    const file = path.join(dir, `${format}.log`);
    const fd = fs.openSync(file, 'w');
    const logger = createLogger({ level: 'info', format, fd });
    logger.child({ mac: '52:54:00:12:34:56' }).warn({ port: 8080 }, 'hello there');
    logger.child({ seat: 'pc-1' }).info({ chapSecret: 'TopSecret1234567' }, 'seat ready');
    logger.debug('not shown');
    logger.flush();
    fs.closeSync(fd);
    return fs.readFileSync(file, 'utf8');
  };
  const json = write('json')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(json.length, 2);
  assert.equal(json[0]!.msg, 'hello there');
  assert.equal(json[0]!.mac, '52:54:00:12:34:56');
  const pretty = write('pretty');
  assert.throws(() => JSON.parse(pretty.split('\n')[0]!));
  assert.match(pretty, /WARN.*hello there/);
  assert.match(pretty, /mac: "52:54:00:12:34:56"/);
  assert.match(pretty, /INFO.*seat ready/);
  assert.doesNotMatch(pretty, /TopSecret1234567/, 'secrets are redacted in both formats');
  assert.doesNotMatch(pretty, /not shown/);
});
