// Which network-boot services `lanboot serve` builds from its configuration
// (src/supervisor/services.ts); the configuration decided each one already.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { buildServices } from '../../src/supervisor/services.js';
import { LanbootError } from '../../src/log/errors.js';

const silent = pino({ level: 'silent' });
// Building the services opens no socket and sends no file: the addon is not used here.
const notUsed = {
  openInterfaceUdpSocket: (): number => assert.fail('openInterfaceUdpSocket called'),
  sendFileRange: (): Promise<number> => assert.fail('sendFileRange called'),
};
const configFor = (flags: Record<string, string | boolean>, env: NodeJS.ProcessEnv = {}, isRoot = false) => loadConfig({ flags, env, cwd: '/tmp', isRoot });
const names = (flags: Record<string, string | boolean>, env: NodeJS.ProcessEnv = {}) => buildServices(configFor(flags, env), silent, notUsed).map((s) => s.name);

test('no interface: only the boot service, no DHCP and no TFTP', () => {
  const config = configFor({ data: '/tmp/x' });
  assert.deepEqual(names({ data: '/tmp/x' }), ['boot', 'iso', 'history', 'wake']);
  assert.equal(config.tftp, undefined);
  assert.deepEqual(config.dhcp, { mode: 'off' });
});

test('an interface (proxy by default) brings DHCP and TFTP: port 69 as root, 6969 otherwise', () => {
  const config = configFor({ data: '/tmp/x', interface: 'eth0' });
  assert.equal(config.dhcp.mode, 'proxy');
  assert.deepEqual(names({ data: '/tmp/x', interface: 'eth0' }), ['dhcp', 'tftp', 'boot', 'iso', 'history', 'wake', 'mdns']);
  assert.equal(configFor({ data: '/tmp/x', interface: 'eth0' }, {}, true).tftp?.port, 69);
  assert.equal(config.tftp?.port, 6969);
  assert.deepEqual(names({ data: '/tmp/x', interface: 'eth0', dhcp: 'off' }), ['boot', 'iso', 'history', 'wake', 'mdns']);
  // mDNS: on by default with an interface; --mdns off / LANBOOT_MDNS turn it off.
  assert.deepEqual(names({ data: '/tmp/x', interface: 'eth0', dhcp: 'off', mdns: 'off' }), ['boot', 'iso', 'history', 'wake']);
  assert.equal(configFor({ data: '/tmp/x', interface: 'eth0' }, { LANBOOT_MDNS: 'false' }).mdns, undefined);
  assert.equal(configFor({ data: '/tmp/x', mdns: 'on' }).mdns, undefined, 'no interface: nothing on the LAN');
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_MDNS: 'maybe' }), /LANBOOT_MDNS: expected on\/off/);
});

test('--tftp-port / LANBOOT_TFTP_PORT and --dhcp-force / LANBOOT_DHCP_FORCE come from the config', () => {
  const config = configFor({ data: '/tmp/x' }, { LANBOOT_TFTP_PORT: '0' });
  assert.equal(config.tftp?.port, 0);
  assert.deepEqual(names({ data: '/tmp/x' }, { LANBOOT_TFTP_PORT: '0' }), ['tftp', 'boot', 'iso', 'history', 'wake']);
  assert.equal(configFor({ data: '/tmp/x', 'tftp-port': '7000' }).tftp?.port, 7000);
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_TFTP_PORT: '70000' }), (e: unknown) => e instanceof LanbootError && /LANBOOT_TFTP_PORT/.test(e.message));
  const full = { data: '/tmp/x', interface: 'eth0', dhcp: 'full' };
  const force = (flags: Record<string, string | boolean>, env: NodeJS.ProcessEnv = {}) => {
    const dhcp = configFor(flags, env).dhcp;
    return dhcp.mode === 'full' ? dhcp.force : undefined;
  };
  assert.equal(force(full, { LANBOOT_DHCP_FORCE: '1' }), true);
  assert.equal(force(full, { LANBOOT_DHCP_FORCE: 'false' }), false);
  assert.equal(force({ ...full, 'dhcp-force': true }), true);
  assert.equal(force(full), false);
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_DHCP_FORCE: 'yes please' }), /LANBOOT_DHCP_FORCE/);
});
