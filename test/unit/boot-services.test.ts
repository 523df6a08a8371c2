// Which network-boot services `lanboot serve` builds from its configuration
// (src/supervisor/services.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { buildServices, networkBootSettings } from '../../src/supervisor/services.js';
import { LanbootError } from '../../src/log/errors.js';

const silent = pino({ level: 'silent' });
const configFor = (flags: Record<string, string>) => loadConfig({ flags, env: {}, cwd: '/tmp', isRoot: false });

test('no interface: only the boot service, no DHCP and no TFTP', () => {
  const config = configFor({ data: '/tmp/x' });
  assert.deepEqual(buildServices(config, silent, {}).map((s) => s.name), ['boot']);
  assert.deepEqual(networkBootSettings(config, {}, true), { tftpPort: undefined, dhcpForce: false });
});

test('an interface (proxy by default) brings DHCP and TFTP: port 69 as root, 6969 otherwise', () => {
  const config = configFor({ data: '/tmp/x', interface: 'eth0' });
  assert.equal(config.dhcp, 'proxy');
  assert.deepEqual(buildServices(config, silent, {}).map((s) => s.name), ['dhcp', 'tftp', 'boot']);
  assert.equal(networkBootSettings(config, {}, true).tftpPort, 69);
  assert.equal(networkBootSettings(config, {}, false).tftpPort, 6969);
  const off = configFor({ data: '/tmp/x', interface: 'eth0', dhcp: 'off' });
  assert.deepEqual(buildServices(off, silent, {}).map((s) => s.name), ['boot']);
});

test('LANBOOT_TFTP_PORT and LANBOOT_DHCP_FORCE are validated', () => {
  const config = configFor({ data: '/tmp/x' });
  assert.equal(networkBootSettings(config, { LANBOOT_TFTP_PORT: '0' }, false).tftpPort, 0);
  assert.deepEqual(buildServices(config, silent, { LANBOOT_TFTP_PORT: '0' }).map((s) => s.name), ['tftp', 'boot']);
  assert.throws(() => networkBootSettings(config, { LANBOOT_TFTP_PORT: '70000' }, false), (e: unknown) => e instanceof LanbootError && /LANBOOT_TFTP_PORT/.test(e.message));
  assert.equal(networkBootSettings(config, { LANBOOT_DHCP_FORCE: '1' }, false).dhcpForce, true);
  assert.equal(networkBootSettings(config, { LANBOOT_DHCP_FORCE: 'false' }, false).dhcpForce, false);
  assert.throws(() => networkBootSettings(config, { LANBOOT_DHCP_FORCE: 'yes please' }, false), /LANBOOT_DHCP_FORCE/);
});
