// Boot policy: which file each kind of client gets, and no iPXE chainload loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BootpOp,
  DhcpMessageType,
  DhcpOption,
  decodeClientRequest,
  encodeDhcpMessage,
  encodeUint16List,
  type DhcpClientRequest,
} from '../../src/dhcp/codec.js';
import { decideBoot, DEFAULT_BOOT_POLICY, type BootPolicySettings } from '../../src/dhcp/boot-policy.js';
import { buildProxyReply, replyDestination } from '../../src/dhcp/replies.js';

const settings: BootPolicySettings = { ...DEFAULT_BOOT_POLICY, serverAddress: '192.168.7.2', httpPort: 8080 };

interface ClientShape {
  vendorClass?: string;
  arch?: number[];
  userClass?: Buffer;
  ipxe175?: boolean;
  uuid?: boolean;
  prl?: number[];
}

function client(shape: ClientShape): DhcpClientRequest {
  const options: Array<[number, Buffer]> = [[DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.DISCOVER])]];
  if (shape.vendorClass !== undefined) options.push([DhcpOption.VENDOR_CLASS, Buffer.from(shape.vendorClass)]);
  if (shape.arch) options.push([DhcpOption.CLIENT_ARCH, encodeUint16List(shape.arch)]);
  if (shape.userClass) options.push([DhcpOption.USER_CLASS, shape.userClass]);
  if (shape.ipxe175) options.push([DhcpOption.IPXE_ENCAP, Buffer.from([0x13, 0x01, 0x01])]);
  if (shape.uuid) options.push([DhcpOption.CLIENT_UUID, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0xab)])]);
  if (shape.prl) options.push([DhcpOption.PARAMETER_REQUEST_LIST, Buffer.from(shape.prl)]);
  return decodeClientRequest(
    encodeDhcpMessage({ op: BootpOp.REQUEST, xid: 7, flags: 0x8000, chaddr: Buffer.from([0x52, 0x54, 0, 0, 0, 1]), options }),
  );
}

const table: Array<{ name: string; shape: ClientShape; expect: Record<string, unknown> }> = [
  { name: 'BIOS PXE', shape: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: [0] }, expect: { kind: 'boot', stage: 'pxe-bios', bootFile: 'undionly.kpxe', vendorClassEcho: 'PXEClient', viaTftp: true } },
  { name: 'PXE 2.0 ROM without option 93', shape: { vendorClass: 'PXEClient' }, expect: { kind: 'boot', stage: 'pxe-bios', bootFile: 'undionly.kpxe', arch: 0 } },
  { name: 'UEFI x64 arch 7', shape: { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', arch: [7] }, expect: { kind: 'boot', stage: 'pxe-uefi', bootFile: 'snponly.efi', arch: 7 } },
  { name: 'UEFI x64 arch 9', shape: { vendorClass: 'PXEClient:Arch:00009:UNDI:003000', arch: [9] }, expect: { kind: 'boot', stage: 'pxe-uefi', bootFile: 'snponly.efi', arch: 9 } },
  { name: 'arch from vendor class only', shape: { vendorClass: 'PXEClient:Arch:00007:UNDI:003016' }, expect: { kind: 'boot', bootFile: 'snponly.efi', arch: 7 } },
  { name: 'UEFI HTTP boot', shape: { vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', arch: [16] }, expect: { kind: 'boot', stage: 'http-uefi', bootFile: 'http://192.168.7.2:8080/ipxe/snponly.efi', vendorClassEcho: 'HTTPClient', viaTftp: false } },
  { name: 'iPXE by user class (plain string)', shape: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: [0], userClass: Buffer.from('iPXE') }, expect: { kind: 'boot', stage: 'ipxe', bootFile: 'http://192.168.7.2:8080/boot.ipxe', viaTftp: false } },
  { name: 'iPXE by user class (RFC 3004)', shape: { vendorClass: 'PXEClient:Arch:00007:UNDI:003010', arch: [7], userClass: Buffer.from([4, ...Buffer.from('iPXE')]) }, expect: { kind: 'boot', stage: 'ipxe', bootFile: 'http://192.168.7.2:8080/boot.ipxe' } },
  { name: 'iPXE by option 175 only', shape: { vendorClass: 'PXEClient:Arch:00009:UNDI:003010', arch: [9], ipxe175: true }, expect: { kind: 'boot', stage: 'ipxe', bootFile: 'http://192.168.7.2:8080/boot.ipxe' } },
  { name: 'iPXE loaded by HTTP boot', shape: { vendorClass: 'HTTPClient:Arch:00016', arch: [16], userClass: Buffer.from('iPXE') }, expect: { kind: 'boot', stage: 'ipxe', vendorClassEcho: 'HTTPClient' } },
  { name: 'ordinary client', shape: { vendorClass: 'MSFT 5.0' }, expect: { kind: 'ignore', reason: 'not-pxe' } },
  { name: 'no vendor class', shape: {}, expect: { kind: 'ignore', reason: 'not-pxe' } },
  { name: 'other user class is not iPXE', shape: { userClass: Buffer.from('gPXE') }, expect: { kind: 'ignore', reason: 'not-pxe' } },
  { name: 'UEFI ARM64', shape: { vendorClass: 'PXEClient:Arch:00011:UNDI:003000', arch: [11] }, expect: { kind: 'ignore', reason: 'unsupported-arch', arch: 11 } },
  { name: 'UEFI IA32', shape: { vendorClass: 'PXEClient:Arch:00006:UNDI:003000', arch: [6] }, expect: { kind: 'ignore', reason: 'unsupported-arch' } },
  { name: 'ARM64 HTTP boot', shape: { vendorClass: 'HTTPClient:Arch:00019', arch: [19] }, expect: { kind: 'ignore', reason: 'unsupported-arch' } },
];

for (const row of table) {
  test(`boot policy: ${row.name}`, () => {
    const decision = decideBoot(client(row.shape), settings);
    for (const [key, value] of Object.entries(row.expect)) {
      assert.deepEqual((decision as Record<string, unknown>)[key], value, `${key} of ${JSON.stringify(decision)}`);
    }
  });
}

test('boot policy: ipxe.efi by setting; port 80 leaves the port out of URLs', () => {
  const s: BootPolicySettings = { ...settings, uefiBinary: 'ipxe.efi', httpPort: 80 };
  const uefi = decideBoot(client({ vendorClass: 'PXEClient:Arch:00007:UNDI:003000', arch: [7] }), s);
  assert.equal(uefi.kind === 'boot' && uefi.bootFile, 'ipxe.efi');
  const http = decideBoot(client({ vendorClass: 'HTTPClient:Arch:00016', arch: [16] }), s);
  assert.equal(http.kind === 'boot' && http.bootFile, 'http://192.168.7.2/ipxe/ipxe.efi');
  const ipxe = decideBoot(client({ vendorClass: 'PXEClient', userClass: Buffer.from('iPXE') }), s);
  assert.equal(ipxe.kind === 'boot' && ipxe.bootFile, 'http://192.168.7.2/boot.ipxe');
});

test('no loop: whatever binary iPXE is, iPXE never gets an iPXE binary', () => {
  for (const arch of [0, 7, 9, 16]) {
    for (const vendorClass of ['PXEClient:Arch:0000' + arch, 'HTTPClient:Arch:00016']) {
      for (const marker of [{ userClass: Buffer.from('iPXE') }, { ipxe175: true }]) {
        const decision = decideBoot(client({ vendorClass, arch: [arch], ...marker }), settings);
        assert.equal(decision.kind, 'boot');
        if (decision.kind === 'boot') assert.match(decision.bootFile, /^http:\/\/.*\/boot\.ipxe$/);
      }
    }
  }
});

test('proxy reply: no address, next-server, 60, 54, 43 discovery control, 97 echoed', () => {
  const request = client({ vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: [0], uuid: true, prl: [1, 3, 43, 60, 66, 67] });
  const decision = decideBoot(request, settings);
  assert.equal(decision.kind, 'boot');
  if (decision.kind !== 'boot') return;
  const reply = decodeClientRequest(
    // Decoded as a request to reuse the option readers: flip op back for the codec's check.
    Buffer.from(encodeDhcpMessage({ ...buildProxyReply(request, decision, '192.168.7.2', DhcpMessageType.OFFER), op: BootpOp.REQUEST })),
  );
  assert.equal(reply.message.yiaddr, '0.0.0.0');
  assert.equal(reply.message.siaddr, '192.168.7.2');
  assert.equal(reply.message.xid, 7);
  assert.equal(reply.message.file, 'undionly.kpxe');
  assert.equal(reply.messageType, DhcpMessageType.OFFER);
  assert.equal(reply.serverId, '192.168.7.2');
  assert.equal(reply.vendorClass, 'PXEClient');
  assert.deepEqual([...reply.message.options.get(DhcpOption.VENDOR_SPECIFIC)!], [6, 1, 8, 255]);
  assert.deepEqual(reply.message.options.get(DhcpOption.CLIENT_UUID), request.uuidOption);
  assert.equal(reply.message.options.get(DhcpOption.BOOTFILE_NAME)?.toString(), 'undionly.kpxe');
  assert.equal(reply.message.options.get(DhcpOption.TFTP_SERVER_NAME)?.toString(), '192.168.7.2');
  assert.equal(reply.message.options.has(DhcpOption.LEASE_TIME), false);
  assert.deepEqual(replyDestination(request, false), { address: '255.255.255.255', port: 68 });
});

test('a boot URL longer than the 127-byte file field goes in option 67 only', () => {
  const long: BootPolicySettings = { ...settings, bootScriptPath: `/${'x'.repeat(150)}.ipxe` };
  const request = client({ vendorClass: 'PXEClient', userClass: Buffer.from('iPXE') });
  const decision = decideBoot(request, long);
  assert.equal(decision.kind, 'boot');
  if (decision.kind !== 'boot') return;
  const reply = buildProxyReply(request, decision, '192.168.7.2', DhcpMessageType.OFFER);
  assert.equal(reply.file, '');
  const option67 = reply.options.find(([code]) => code === DhcpOption.BOOTFILE_NAME)?.[1].toString();
  assert.equal(option67, decision.bootFile);
  // And the encoded reply carries it whole.
  const decoded = decodeClientRequest(Buffer.from(encodeDhcpMessage({ ...reply, op: BootpOp.REQUEST })));
  assert.equal(decoded.message.options.get(DhcpOption.BOOTFILE_NAME)?.toString(), decision.bootFile);
});
