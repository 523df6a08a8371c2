import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { advertisedHost, firstExternalIpv4 } from '../../src/system/network.js';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal: boolean): os.NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as os.NetworkInterfaceInfo;

test('portal host: the --listen address, else the first external IPv4, else 127.0.0.1', () => {
  const interfaces = {
    lo: [iface('127.0.0.1', 'IPv4', true)],
    eth1: [iface('fe80::1', 'IPv6', false), iface('192.168.7.2', 'IPv4', false)],
    eth0: [iface('10.0.0.5', 'IPv4', false)],
  };
  assert.equal(firstExternalIpv4(interfaces), '10.0.0.5', 'interfaces in name order, so the answer is stable');
  assert.equal(advertisedHost('0.0.0.0', interfaces), '10.0.0.5');
  assert.equal(advertisedHost('192.168.7.2', interfaces), '192.168.7.2');
  assert.equal(advertisedHost('0.0.0.0', { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::2', 'IPv6', false)] }), '127.0.0.1');
  assert.equal(firstExternalIpv4({}), undefined);
});
