// `interface: auto` (the appliance's /etc/lanboot/config.json): which interface lanboot picks.
// The sysfs tree is a real directory laid out like /sys/class/net (we cannot add NICs here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, resolveAutoInterface } from '../../src/config/config.js';

interface FakeNic {
  type?: string;
  device?: boolean;
  wireless?: boolean;
  carrier?: string;
}

function sysfs(t: { after: (fn: () => void) => void }, nics: Record<string, FakeNic>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-sysnet-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, nic] of Object.entries(nics)) {
    const nicDir = path.join(dir, name);
    fs.mkdirSync(nicDir);
    fs.writeFileSync(path.join(nicDir, 'type'), `${nic.type ?? '1'}\n`);
    if (nic.device ?? true) fs.mkdirSync(path.join(nicDir, 'device'));
    if (nic.wireless) fs.mkdirSync(path.join(nicDir, 'wireless'));
    if (nic.carrier !== undefined) fs.writeFileSync(path.join(nicDir, 'carrier'), `${nic.carrier}\n`);
  }
  return dir;
}

test('auto picks the first wired interface with carrier, skipping loopback, bridges, veth and Wi-Fi', (t) => {
  const dir = sysfs(t, {
    lo: { type: '772', device: false, carrier: '1' },
    br0: { device: false, carrier: '1' },
    veth1: { device: false, carrier: '1' },
    wlan0: { wireless: true, carrier: '1' },
    enp1s0: { carrier: '0' },
    enp2s0: { carrier: '1' },
    enp3s0: { carrier: '1' },
  });
  assert.equal(resolveAutoInterface('cfg: interface', dir), 'enp2s0');
});

test('auto without carrier anywhere falls back to the first wired interface', (t) => {
  const dir = sysfs(t, { enp5s0: {}, enp4s0: { carrier: '0' }, wlan0: { wireless: true, carrier: '1' } });
  assert.equal(resolveAutoInterface('cfg: interface', dir), 'enp4s0');
});

test('auto with no wired interface is a clear config error naming the setting', (t) => {
  const dir = sysfs(t, { lo: { type: '772', device: false }, wlan0: { wireless: true, carrier: '1' } });
  assert.throws(() => resolveAutoInterface('/etc/lanboot/config.json: interface', dir), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'LANBOOT_CONFIG_INVALID');
    assert.match(error.message, /^\/etc\/lanboot\/config\.json: interface: 'auto' found no wired network interface \(checked: lo, wlan0\)/);
    return true;
  });
});

test('loadConfig resolves interface auto from a config file, and proxyDHCP follows', (t) => {
  const dir = sysfs(t, { eth0: { carrier: '1' } });
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-auto-cfg-'));
  t.after(() => fs.rmSync(data, { recursive: true, force: true }));
  const file = path.join(data, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ dataDir: data, interface: 'auto', dhcp: 'proxy' }));
  const config = loadConfig({ flags: { config: file }, env: {}, cwd: data, isRoot: false, sysClassNet: dir });
  assert.equal(config.interface, 'eth0');
  assert.equal(config.dhcp.mode, 'proxy');
});
