// The pure half of detect.ts: the probe looks like a PXE client to a proxy, and answers are
// read into report entries (and foreign or odd answers are not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootpOp, decodeClientRequest, decodeDhcpMessage, DhcpMessageType, DhcpOption, encodeDhcpMessage, ipv4ToBuffer } from '../../src/dhcp/codec.js';
import { buildDetectDiscover, describeReply } from '../../src/dhcp/detect.js';
import { decideBoot, DEFAULT_BOOT_POLICY } from '../../src/dhcp/boot-policy.js';
import { buildProxyReply } from '../../src/dhcp/replies.js';

const mac = Buffer.from([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
const xid = 0x01020304;
const probe = buildDetectDiscover(mac, xid, Buffer.alloc(16, 7));

test('the probe is a broadcast PXE BIOS DISCOVER a proxy answers', () => {
  const request = decodeClientRequest(probe);
  assert.equal(request.messageType, DhcpMessageType.DISCOVER);
  assert.equal(request.message.flags & 0x8000, 0x8000);
  assert.equal(request.mac, '02:11:22:33:44:55');
  assert.deepEqual(request.architectures, [0]);
  assert.equal(request.uuid, '07'.repeat(16));
  const decision = decideBoot(request, { ...DEFAULT_BOOT_POLICY, serverAddress: '10.0.0.2' });
  assert.equal(decision.kind === 'boot' && decision.stage, 'pxe-bios');
});

test('a proxy answer: no address, PXE, boot file and next server', () => {
  const request = decodeClientRequest(probe);
  const decision = decideBoot(request, { ...DEFAULT_BOOT_POLICY, serverAddress: '10.0.0.2' });
  assert.equal(decision.kind, 'boot');
  if (decision.kind !== 'boot') return;
  const reply = decodeDhcpMessage(encodeDhcpMessage(buildProxyReply(request, decision, '10.0.0.2', DhcpMessageType.OFFER)));
  assert.deepEqual(describeReply(reply, '10.0.0.2', xid, mac), {
    serverId: '10.0.0.2',
    from: '10.0.0.2',
    offersAddress: false,
    offeredAddress: undefined,
    pxe: true,
    bootFile: 'undionly.kpxe',
    nextServer: '10.0.0.2',
    vendorClass: 'PXEClient',
  });
});

function routerOffer(overrides: { xid?: number; type?: number; chaddr?: Buffer; serverId?: boolean } = {}) {
  return decodeDhcpMessage(
    encodeDhcpMessage({
      op: BootpOp.REPLY,
      xid: overrides.xid ?? xid,
      yiaddr: '10.0.0.123',
      chaddr: overrides.chaddr ?? mac,
      options: [
        [DhcpOption.MESSAGE_TYPE, Buffer.from([overrides.type ?? DhcpMessageType.OFFER])],
        ...(overrides.serverId === false ? [] : ([[DhcpOption.SERVER_ID, ipv4ToBuffer('10.0.0.1')]] as Array<[number, Buffer]>)),
      ],
    }),
  );
}

test('a router offer: an address, no PXE; server id falls back to the source address', () => {
  const entry = describeReply(routerOffer(), '10.0.0.1', xid, mac);
  assert.equal(entry?.serverId, '10.0.0.1');
  assert.equal(entry?.offersAddress, true);
  assert.equal(entry?.offeredAddress, '10.0.0.123');
  assert.equal(entry?.pxe, false);
  assert.equal(describeReply(routerOffer({ serverId: false }), '10.0.0.9', xid, mac)?.serverId, '10.0.0.9');
});

test('answers to someone else, NAKs and requests are not reported', () => {
  assert.equal(describeReply(routerOffer({ xid: xid + 1 }), '10.0.0.1', xid, mac), undefined);
  assert.equal(describeReply(routerOffer({ chaddr: Buffer.alloc(6) }), '10.0.0.1', xid, mac), undefined);
  assert.equal(describeReply(routerOffer({ type: DhcpMessageType.NAK }), '10.0.0.1', xid, mac), undefined);
  assert.equal(describeReply(decodeDhcpMessage(probe), '10.0.0.50', xid, mac), undefined);
});
