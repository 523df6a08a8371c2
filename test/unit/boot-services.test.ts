// Which network-boot services `lanboot serve` builds from its configuration
// (src/supervisor/services.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { buildServices, networkBootSettings } from '../../src/supervisor/services.js';
import { LanbootError } from '../../src/log/errors.js';

const silent = pino({ level: 'silent' });
const configFor = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) => loadConfig({ flags, env, cwd: '/tmp', isRoot: false });

test('no interface: only the boot service, no DHCP and no TFTP', () => {
  const config = configFor({ data: '/tmp/x' });
  assert.deepEqual(buildServices(config, silent).map((s) => s.name), ['boot', 'iso']);
  assert.deepEqual(networkBootSettings(config, true), { tftpPort: undefined, dhcpForce: false });
});

test('an interface (proxy by default) brings DHCP and TFTP: port 69 as root, 6969 otherwise', () => {
  const config = configFor({ data: '/tmp/x', interface: 'eth0' });
  assert.equal(config.dhcp, 'proxy');
  assert.deepEqual(buildServices(config, silent).map((s) => s.name), ['dhcp', 'tftp', 'boot', 'iso', 'mdns']);
  assert.equal(networkBootSettings(config, true).tftpPort, 69);
  assert.equal(networkBootSettings(config, false).tftpPort, 6969);
  const off = configFor({ data: '/tmp/x', interface: 'eth0', dhcp: 'off' });
  assert.deepEqual(buildServices(off, silent).map((s) => s.name), ['boot', 'iso', 'mdns']);
  // mDNS: on by default with an interface; --mdns off / LANBOOT_MDNS turn it off.
  assert.deepEqual(buildServices(configFor({ data: '/tmp/x', interface: 'eth0', dhcp: 'off', mdns: 'off' }), silent).map((s) => s.name), ['boot', 'iso']);
  assert.equal(configFor({ data: '/tmp/x', interface: 'eth0' }, { LANBOOT_MDNS: 'false' }).mdns, false);
  assert.equal(configFor({ data: '/tmp/x' }).mdns, false, 'no interface: nothing on the LAN');
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_MDNS: 'maybe' }), /LANBOOT_MDNS: expected on\/off/);
});

test('--tftp-port / LANBOOT_TFTP_PORT and --dhcp-force / LANBOOT_DHCP_FORCE come from the config', () => {
  const config = configFor({ data: '/tmp/x' }, { LANBOOT_TFTP_PORT: '0' });
  assert.equal(networkBootSettings(config, false).tftpPort, 0);
  assert.deepEqual(buildServices(config, silent).map((s) => s.name), ['tftp', 'boot', 'iso']);
  assert.equal(networkBootSettings(configFor({ data: '/tmp/x', 'tftp-port': '7000' }), false).tftpPort, 7000);
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_TFTP_PORT: '70000' }), (e: unknown) => e instanceof LanbootError && /LANBOOT_TFTP_PORT/.test(e.message));
  assert.equal(networkBootSettings(configFor({ data: '/tmp/x' }, { LANBOOT_DHCP_FORCE: '1' }), false).dhcpForce, true);
  assert.equal(networkBootSettings(configFor({ data: '/tmp/x' }, { LANBOOT_DHCP_FORCE: 'false' }), false).dhcpForce, false);
  assert.equal(loadConfig({ flags: { data: '/tmp/x', 'dhcp-force': true }, env: {}, cwd: '/tmp', isRoot: false }).dhcpForce, true);
  assert.throws(() => configFor({ data: '/tmp/x' }, { LANBOOT_DHCP_FORCE: 'yes please' }), /LANBOOT_DHCP_FORCE/);
});
