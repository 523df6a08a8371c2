import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig, parseBoolean, resolveDataDir, type ConfigFlags } from '../../src/config/config.js';
import { LanbootError } from '../../src/log/errors.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function load(cwd: string, flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = {}, isRoot = false) {
  return loadConfig({ flags, env, cwd, isRoot });
}

function assertConfigError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof LanbootError, `expected a LanbootError, got ${String(error)}`);
    assert.equal(error.code, 'LANBOOT_CONFIG_INVALID');
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

test('defaults: ./lanboot-data, 0.0.0.0, unprivileged ports without root, privileged with root, no DHCP', (t) => {
  const cwd = tempDir(t);
  const user = load(cwd);
  assert.equal(user.dataDir, path.join(cwd, 'lanboot-data'));
  assert.equal(user.listen, '0.0.0.0');
  assert.equal(user.iscsiPort, 13260);
  assert.equal(user.httpPort, 8080);
  assert.equal(user.logLevel, 'info');
  assert.deepEqual(user.dhcp, { mode: 'off' });
  assert.equal(user.interface, undefined);
  assert.equal(user.tftp, undefined);
  assert.equal(user.mdns, undefined);
  assert.equal(user.logFormat, 'json', 'not a terminal');
  assert.equal(user.configFile, undefined);
  const root = load(cwd, {}, {}, true);
  assert.equal(root.iscsiPort, 3260);
  assert.equal(root.httpPort, 80);
});

test('precedence: defaults < config file < environment < flags', (t) => {
  const cwd = tempDir(t);
  const data = path.join(cwd, 'lanboot-data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'lanboot.json'), JSON.stringify({ iscsiPort: 1111, httpPort: 2222, listen: '10.0.0.1', logLevel: 'debug' }));

  const fromFile = load(cwd);
  assert.equal(fromFile.iscsiPort, 1111);
  assert.equal(fromFile.httpPort, 2222);
  assert.equal(fromFile.listen, '10.0.0.1');
  assert.equal(fromFile.logLevel, 'debug');
  assert.equal(fromFile.configFile, path.join(data, 'lanboot.json'));

  const fromEnv = load(cwd, {}, { LANBOOT_ISCSI_PORT: '3333', LANBOOT_LISTEN: '10.0.0.2' });
  assert.equal(fromEnv.iscsiPort, 3333);
  assert.equal(fromEnv.listen, '10.0.0.2');
  assert.equal(fromEnv.httpPort, 2222, 'file value kept where env says nothing');

  const fromFlags = load(cwd, { 'iscsi-port': '0', listen: '127.0.0.1' }, { LANBOOT_ISCSI_PORT: '3333', LANBOOT_LISTEN: '10.0.0.2' });
  assert.equal(fromFlags.iscsiPort, 0, 'port 0 (any free port) is allowed');
  assert.equal(fromFlags.listen, '127.0.0.1');
  assert.equal(fromFlags.logLevel, 'debug');
});

test('data dir: --data over LANBOOT_DATA over default; relative to cwd; config file found inside it', (t) => {
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'a'));
  fs.writeFileSync(path.join(cwd, 'a', 'lanboot.json'), JSON.stringify({ httpPort: 8181 }));
  assert.equal(load(cwd, {}, { LANBOOT_DATA: 'b' }).dataDir, path.join(cwd, 'b'));
  const flagged = load(cwd, { data: 'a' }, { LANBOOT_DATA: 'b' });
  assert.equal(flagged.dataDir, path.join(cwd, 'a'));
  assert.equal(flagged.httpPort, 8181);
  assert.deepEqual(resolveDataDir({}, {}, cwd), { dataDir: path.join(cwd, 'lanboot-data'), label: './lanboot-data' });
  assert.deepEqual(resolveDataDir({ data: 'x' }, { LANBOOT_DATA: 'y' }, cwd), { dataDir: path.join(cwd, 'x'), label: 'x' });
});

test('--config FILE: must exist; its relative dataDir is relative to the file', (t) => {
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'etc'));
  const file = path.join(cwd, 'etc', 'lb.json');
  fs.writeFileSync(file, JSON.stringify({ dataDir: '../state', iscsiPort: '4444' }));
  const config = load(cwd, { config: 'etc/lb.json' });
  assert.equal(config.dataDir, path.join(cwd, 'state'));
  assert.equal(config.iscsiPort, 4444);
  assert.equal(config.configFile, file);
  assertConfigError(() => load(cwd, { config: 'missing.json' }), /^--config: cannot read .*missing\.json/);
  assertConfigError(() => load(cwd, {}, { LANBOOT_CONFIG: 'missing.json' }), /^LANBOOT_CONFIG: cannot read/);
});

test('validation messages name the setting and the source', (t) => {
  const cwd = tempDir(t);
  assertConfigError(() => load(cwd, { 'iscsi-port': 'abc' }), "--iscsi-port: expected a port 0-65535, got 'abc'");
  assertConfigError(() => load(cwd, { 'http-port': '65536' }), "--http-port: expected a port 0-65535, got '65536'");
  assertConfigError(() => load(cwd, {}, { LANBOOT_HTTP_PORT: '-1' }), "LANBOOT_HTTP_PORT: expected a port 0-65535, got '-1'");
  assertConfigError(() => load(cwd, { listen: 'localhost' }), "--listen: expected an IPv4 address to listen on, like 0.0.0.0 or 192.168.1.10, got 'localhost'");
  assertConfigError(() => load(cwd, { 'log-level': 'loud' }), /^--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got 'loud'$/);
  assertConfigError(() => load(cwd, { 'iscsi-port': '9000', 'http-port': '9000' }), /the iSCSI and HTTP ports are both 9000/);

  const data = path.join(cwd, 'lanboot-data');
  fs.mkdirSync(data);
  const file = path.join(data, 'lanboot.json');
  fs.writeFileSync(file, JSON.stringify({ iscsiPort: 'x1' }));
  assertConfigError(() => load(cwd), `${file}: iscsiPort: expected a port 0-65535, got 'x1'`);
  fs.writeFileSync(file, JSON.stringify({ iscsiPrt: 1 }));
  assertConfigError(() => load(cwd), /lanboot\.json: unknown setting 'iscsiPrt'/);
  fs.writeFileSync(file, '{ not json');
  assertConfigError(() => load(cwd), /lanboot\.json: not valid JSON/);
  fs.writeFileSync(file, '[1,2]');
  assertConfigError(() => load(cwd), /lanboot\.json: expected a JSON object of settings/);
  fs.writeFileSync(file, ' '.repeat(70 * 1024));
  assertConfigError(() => load(cwd), /more than the 65536 a config file may have/);
});

test('DHCP: off without --interface; proxy by default with one; mode and range validated', (t) => {
  const cwd = tempDir(t);
  assert.deepEqual(load(cwd, { interface: 'eth0' }).dhcp, { mode: 'proxy', interface: 'eth0' });
  const off = load(cwd, { interface: 'eth0', dhcp: 'off' });
  assert.deepEqual(off.dhcp, { mode: 'off' });
  assert.equal(off.interface, 'eth0', 'the interface stays known (mDNS, status)');
  assert.equal(off.tftp, undefined, 'no DHCP, no TFTP by default');
  const full = load(cwd, { interface: 'br-lan', dhcp: 'full', 'dhcp-range': '192.168.1.100-192.168.1.199' });
  assert.deepEqual(full.dhcp, { mode: 'full', interface: 'br-lan', range: { first: '192.168.1.100', last: '192.168.1.199' }, force: false });
  assert.deepEqual(load(cwd, { interface: 'br-lan', dhcp: 'full', 'dhcp-force': true }).dhcp, { mode: 'full', interface: 'br-lan', range: undefined, force: true });
  assert.equal(load(cwd, {}, { LANBOOT_INTERFACE: 'eth1' }).interface, 'eth1');

  assertConfigError(() => load(cwd, { dhcp: 'proxy' }), /^--dhcp: DHCP mode 'proxy' needs --interface IF/);
  assertConfigError(() => load(cwd, { interface: 'eth0', dhcp: 'server' }), "--dhcp: expected one of proxy, full, off, got 'server'");
  assertConfigError(() => load(cwd, { interface: 'eth0/../x' }), /^--interface: expected a network interface name/);
  assertConfigError(() => load(cwd, { interface: 'a-very-long-interface-name' }), /^--interface: expected a network interface name/);
  assertConfigError(
    () => load(cwd, { interface: 'eth0', dhcp: 'full', 'dhcp-range': '192.168.1.200-192.168.1.100' }),
    '--dhcp-range: the first address 192.168.1.200 comes after the last 192.168.1.100',
  );
  assertConfigError(() => load(cwd, { interface: 'eth0', dhcp: 'full', 'dhcp-range': '192.168.1.1' }), /^--dhcp-range: expected FIRST-LAST/);
  assertConfigError(() => load(cwd, { interface: 'eth0', dhcp: 'full', 'dhcp-range': '1.2.3.4-1.2.3.999' }), /^--dhcp-range: expected FIRST-LAST/);
  assertConfigError(() => load(cwd, { interface: 'eth0', 'dhcp-range': '10.0.0.1-10.0.0.9' }), /only used with --dhcp full \(DHCP mode is 'proxy'\)/);
});

test('one boolean parser for flags, variables and the config file', (t) => {
  for (const yes of [true, 'true', '1', 'on', 'yes', 'ON', ' True ']) assert.equal(parseBoolean({ value: yes, label: 'x' }), true, String(yes));
  for (const no of [false, 'false', '0', 'off', 'no', 'Off']) assert.equal(parseBoolean({ value: no, label: 'x' }), false, String(no));
  for (const bad of ['maybe', '', 2, null, {}]) assertConfigError(() => parseBoolean({ value: bad, label: 'X' }), /^X: expected on\/off/);
  const cwd = tempDir(t);
  const data = path.join(cwd, 'lanboot-data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'lanboot.json'), JSON.stringify({ interface: 'eth0', dhcp: 'full', dhcpForce: 'yes', mdns: false }));
  const fromFile = load(cwd);
  assert.equal(fromFile.dhcp.mode === 'full' && fromFile.dhcp.force, true);
  assert.equal(fromFile.mdns, undefined);
  const fromEnv = load(cwd, {}, { LANBOOT_DHCP_FORCE: 'off', LANBOOT_MDNS: 'on', LANBOOT_USB_ALLOW_DIRECTORIES: 'yes' });
  assert.equal(fromEnv.dhcp.mode === 'full' && fromEnv.dhcp.force, false);
  assert.deepEqual(fromEnv.mdns, { interfaceName: 'eth0', responder: 'auto' });
  assert.equal(fromEnv.usb.allowDirectories, true);
  assertConfigError(() => load(cwd, {}, { LANBOOT_USB_ALLOW_DIRECTORIES: 'sure' }), /^LANBOOT_USB_ALLOW_DIRECTORIES: expected on\/off/);
});

test('the environment is read here once: USB paths, mDNS responder, TFTP slice', (t) => {
  const cwd = tempDir(t);
  const config = load(cwd, { interface: 'eth0' }, { LANBOOT_USB_SPOOL: 'spool', LANBOOT_USB_UDEV_DATA: '/tmp/udev', LANBOOT_MDNS_RESPONDER: 'ciao' });
  assert.equal(config.usb.spoolDir, path.join(cwd, 'spool'));
  assert.equal(config.usb.coldplug.udevDataDir, '/tmp/udev');
  assert.equal(config.usb.allowDirectories, false);
  assert.deepEqual(config.mdns, { interfaceName: 'eth0', responder: 'ciao' });
  assert.deepEqual(config.tftp, { port: 6969, host: '0.0.0.0', root: path.join(cwd, 'lanboot-data', 'tftp') });
  assert.equal(load(cwd, { interface: 'eth0' }, {}, true).tftp?.port, 69);
  assert.equal(load(cwd).usb.spoolDir, '/run/lanboot/usb-events');
  assertConfigError(() => load(cwd, {}, { LANBOOT_MDNS_RESPONDER: 'bonjour' }), /^LANBOOT_MDNS_RESPONDER: expected one of auto, ciao, avahi/);
});

test('log format: readable at a terminal, JSON under systemd or a pipe, or as asked', (t) => {
  const cwd = tempDir(t);
  const format = (env: NodeJS.ProcessEnv, tty: boolean, flags: ConfigFlags = {}) => loadConfig({ flags, env, cwd, isRoot: false, stdoutIsTty: tty }).logFormat;
  assert.equal(format({}, true), 'pretty');
  assert.equal(format({}, false), 'json');
  assert.equal(format({ JOURNAL_STREAM: '8:12345' }, true), 'json');
  assert.equal(format({ INVOCATION_ID: 'abc' }, true), 'json');
  assert.equal(format({}, false, { 'log-format': 'pretty' }), 'pretty');
  assert.equal(format({ LANBOOT_LOG_FORMAT: 'json' }, true), 'json');
  assertConfigError(() => format({}, true, { 'log-format': 'xml' }), "--log-format: expected one of auto, json, pretty, got 'xml'");
});

test('data dir through the config file: --config and LANBOOT_CONFIG find it for every command', (t) => {
  const cwd = tempDir(t);
  const file = path.join(cwd, 'lanboot.conf.json');
  fs.writeFileSync(file, JSON.stringify({ dataDir: 'var/lib/lanboot', interface: 'auto' }));
  const expected = path.join(cwd, 'var', 'lib', 'lanboot');
  assert.equal(resolveDataDir({ config: file }, {}, '/').dataDir, expected);
  assert.equal(resolveDataDir({}, { LANBOOT_CONFIG: file }, '/').dataDir, expected);
  // --data / LANBOOT_DATA still win over the file, as for `serve`.
  assert.equal(resolveDataDir({ data: 'elsewhere' }, { LANBOOT_CONFIG: file }, cwd).dataDir, path.join(cwd, 'elsewhere'));
  assert.equal(resolveDataDir({}, { LANBOOT_CONFIG: file, LANBOOT_DATA: '/srv/lb' }, cwd).dataDir, '/srv/lb');
  assertConfigError(() => resolveDataDir({}, { LANBOOT_CONFIG: path.join(cwd, 'missing.json') }, cwd), /^LANBOOT_CONFIG: cannot read/);
});

test('boot-script owner check: neighbor by default, off for routed setups, anything else named', (t) => {
  const cwd = tempDir(t);
  assert.equal(load(cwd).scriptOwnerCheck, 'neighbor');
  assert.equal(load(cwd, { 'script-owner-check': 'off' }).scriptOwnerCheck, 'off');
  assert.equal(load(cwd, {}, { LANBOOT_SCRIPT_OWNER_CHECK: 'off' }).scriptOwnerCheck, 'off');
  assertConfigError(() => load(cwd, { 'script-owner-check': 'maybe' }), /--script-owner-check/);
});
