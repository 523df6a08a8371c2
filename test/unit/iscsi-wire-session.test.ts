// The test initiator's session logic (Data-Out per ImmediateData / InitialR2T / R2T, Data-In
// assembly, CmdSN window, NOP-In answers, Reject routing) against a scripted target on a real
// loopback socket. The script's answers are laid out byte by byte here from RFC 7143 section
// 11, independently of the code under test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { IscsiSession, PduStreamDecoder, WireError, type Pdu } from '../helpers/iscsi-wire.js';

interface Counters {
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
}

function header(opcode: number, flags: number, itt: number, c: Counters): Buffer {
  const b = Buffer.alloc(48);
  b[0] = opcode;
  b[1] = flags;
  b.writeUInt32BE(itt >>> 0, 16);
  b.writeUInt32BE(0xffffffff, 20);
  b.writeUInt32BE(c.statSn >>> 0, 24);
  b.writeUInt32BE(c.expCmdSn >>> 0, 28);
  b.writeUInt32BE(c.maxCmdSn >>> 0, 32);
  return b;
}

function frame(bhs: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  bhs.writeUIntBE(data.length, 5, 3);
  const padded = Buffer.alloc((data.length + 3) & ~3);
  data.copy(padded);
  return Buffer.concat([bhs, padded]);
}

interface Script {
  /** Keys of the final Login Response. */
  loginKeys: string;
  counters: Counters;
  /** Called for every PDU after login; `send` writes raw bytes to the initiator. */
  onPdu(pdu: Pdu, send: (bytes: Buffer) => void, c: Counters): void;
}

/** A one-connection target that logs in anyone and then follows the script. */
async function scriptedTarget(t: { after(fn: () => unknown): void }, script: Script): Promise<{ port: number; received: Pdu[] }> {
  const received: Pdu[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const decoder = new PduStreamDecoder();
    const send = (bytes: Buffer): void => {
      socket.write(bytes);
    };
    socket.on('data', (chunk: Buffer) => {
      for (const pdu of decoder.push(chunk)) {
        if ((pdu.bhs[0]! & 0x3f) === 0x03) {
          // Login Response: T=1 CSG=1 NSG=3, TSIH 1, status 0 (RFC 7143 11.13).
          const bhs = header(0x23, 0x87, pdu.bhs.readUInt32BE(16), script.counters);
          pdu.bhs.copy(bhs, 8, 8, 14); // ISID
          bhs.writeUInt16BE(1, 14);
          send(frame(bhs, Buffer.from(script.loginKeys)));
          script.counters.statSn++;
          continue;
        }
        received.push(pdu);
        script.onPdu(pdu, send, script.counters);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  });
  return { port: (server.address() as net.AddressInfo).port, received };
}

const scsiResponse = (itt: number, c: Counters, status = 0): Buffer => {
  const b = header(0x21, 0x80, itt, c);
  b[3] = status;
  c.statSn++;
  return frame(b);
};

const r2t = (itt: number, ttt: number, r2tSn: number, offset: number, length: number, c: Counters): Buffer => {
  const b = header(0x31, 0x80, itt, c);
  b.writeUInt32BE(ttt, 20);
  b.writeUInt32BE(r2tSn, 36);
  b.writeUInt32BE(offset, 40);
  b.writeUInt32BE(length, 44);
  return frame(b);
};

const open = (port: number, proposal: Parameters<typeof IscsiSession.open>[0]['proposal']) =>
  IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: 'iqn.2026-11.test:unit-i', targetIqn: 'iqn.2026-11.test:unit-t', proposal, timeoutMs: 3000 });

const itt = (p: Pdu) => p.bhs.readUInt32BE(16);
const ttt = (p: Pdu) => p.bhs.readUInt32BE(20);
const opcode = (p: Pdu) => p.bhs[0]! & 0x3f;
const dataSn = (p: Pdu) => p.bhs.readUInt32BE(36);
const bufferOffset = (p: Pdu) => p.bhs.readUInt32BE(40);
const final = (p: Pdu) => (p.bhs[1]! & 0x80) !== 0;

describe('IscsiSession against a scripted target', () => {
  it('sends immediate data, unsolicited Data-Out up to FirstBurstLength, then data per R2T (RFC 7143 13.10, 13.11, 13.14)', async (t) => {
    const data = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 31) & 0xff));
    const assembled = Buffer.alloc(8192);
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=1024\0InitialR2T=No\0ImmediateData=Yes\0FirstBurstLength=2048\0MaxBurstLength=4096\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) === 0x01) {
          pdu.data.copy(assembled, 0);
          c.expCmdSn++;
          c.maxCmdSn++;
          return;
        }
        if (opcode(pdu) !== 0x05) return;
        pdu.data.copy(assembled, bufferOffset(pdu));
        if (!final(pdu)) return;
        // After the unsolicited burst ask for 4096 bytes, then the last 2048.
        if (ttt(pdu) === 0xffffffff) send(r2t(itt(pdu), 0x99, 0, 2048, 4096, c));
        else if (ttt(pdu) === 0x99) send(r2t(itt(pdu), 0x9a, 1, 6144, 2048, c));
        else send(scsiResponse(itt(pdu), c));
      },
    });
    const session = await open(target.port, { initialR2T: false, immediateData: true });
    t.after(() => session.destroy());
    assert.equal(session.params.targetMaxRecvDataSegmentLength, 1024);
    const result = await session.write10(100, data);
    assert.equal(result.status, 0);
    assert.ok(assembled.equals(data), 'bytes reassembled at their offsets differ');

    const [command, ...dataOuts] = target.received;
    assert.equal(opcode(command!), 0x01);
    assert.equal(command!.data.length, 1024, 'immediate data is one MaxRecvDataSegmentLength');
    assert.equal(final(command!), false, 'F=0: unsolicited Data-Out follows (11.3.1)');
    assert.equal(command!.bhs.readUInt32BE(20), 8192, 'EDTL');
    const summary = dataOuts.map((p) => [ttt(p).toString(16), dataSn(p), bufferOffset(p), p.data.length, final(p)]);
    assert.deepEqual(summary, [
      ['ffffffff', 0, 1024, 1024, true],
      ['99', 0, 2048, 1024, false],
      ['99', 1, 3072, 1024, false],
      ['99', 2, 4096, 1024, false],
      ['99', 3, 5120, 1024, true],
      ['9a', 0, 6144, 1024, false],
      ['9a', 1, 7168, 1024, true],
    ]);
  });

  it('with InitialR2T=Yes and ImmediateData=No sends no data before an R2T', async (t) => {
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0InitialR2T=Yes\0ImmediateData=No\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) === 0x01) send(r2t(itt(pdu), 0x10, 0, 0, 1024, c));
        else if (opcode(pdu) === 0x05 && final(pdu)) send(scsiResponse(itt(pdu), c));
      },
    });
    const session = await open(target.port, { initialR2T: false, immediateData: true });
    t.after(() => session.destroy());
    assert.equal(session.params.initialR2T, true);
    assert.equal(session.params.immediateData, false);
    assert.equal((await session.write10(0, Buffer.alloc(1024, 7))).status, 0);
    const [command, dataOut] = target.received;
    assert.equal(command!.data.length, 0);
    assert.equal(final(command!), true);
    assert.equal(ttt(dataOut!), 0x10);
    assert.equal(dataOut!.data.length, 1024);
  });

  it('assembles Data-In by BufferOffset, takes status from the S bit, refuses a DataSN gap', async (t) => {
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) !== 0x01) return;
        const lba = pdu.bhs.readUInt32BE(34);
        const gap = lba === 666;
        for (const [sn, off, last] of [[0, 0, false], [gap ? 2 : 1, 512, true]] as const) {
          const b = header(0x25, last ? 0x81 : 0x00, itt(pdu), c);
          b.writeUInt32BE(sn, 36);
          b.writeUInt32BE(off, 40);
          send(frame(b, Buffer.alloc(512, off === 0 ? 0xa1 : 0xb2)));
        }
        c.statSn++;
      },
    });
    const session = await open(target.port, {});
    t.after(() => session.destroy());
    const r = await session.read10(5, 2);
    assert.equal(r.status, 0);
    assert.equal(r.data.length, 1024);
    assert.equal(r.data[0], 0xa1);
    assert.equal(r.data[1023], 0xb2);
    await assert.rejects(session.read10(666, 2), (err: unknown) => err instanceof WireError && err.code === 'ISCSI_WIRE_PROTOCOL');
  });

  it('waits for MaxCmdSN before sending a command outside the window (RFC 7143 4.2.2.1)', async (t) => {
    let heldItt = -1;
    let release: (() => void) | undefined;
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0',
      // Window of one command: MaxCmdSN = ExpCmdSN.
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 1 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) !== 0x01) return;
        c.expCmdSn++;
        if (heldItt < 0) {
          heldItt = itt(pdu);
          release = () => {
            c.maxCmdSn = c.expCmdSn; // opens the window by one
            send(scsiResponse(heldItt, c));
          };
        } else send(scsiResponse(itt(pdu), (c.maxCmdSn++, c)));
      },
    });
    const session = await open(target.port, {});
    t.after(() => session.destroy());
    const first = session.testUnitReady();
    const second = session.testUnitReady();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(target.received.length, 1, 'second command sent while CmdSN > MaxCmdSN');
    release!();
    assert.equal((await first).status, 0);
    assert.equal((await second).status, 0);
    assert.equal(target.received.length, 2);
    assert.equal(target.received[1]!.bhs.readUInt32BE(24), 2, 'second command has CmdSN 2');
  });

  it('answers a target NOP-In ping with a NOP-Out echoing its TTT and data (RFC 7143 11.18, 11.19)', async (t) => {
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) === 0x01) {
          const ping = header(0x20, 0x80, 0xffffffff, c);
          ping.writeUInt32BE(0x55, 20);
          send(frame(ping, Buffer.from('ping')));
          send(scsiResponse(itt(pdu), c));
        }
      },
    });
    const session = await open(target.port, {});
    t.after(() => session.destroy());
    await session.testUnitReady();
    for (let i = 0; i < 20 && target.received.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    const nopOut = target.received[1];
    assert.ok(nopOut, 'no NOP-Out answer');
    assert.equal(nopOut.bhs[0], 0x40, 'immediate NOP-Out');
    assert.equal(itt(nopOut), 0xffffffff);
    assert.equal(ttt(nopOut), 0x55);
    assert.equal(nopOut.data.toString(), 'ping');
  });

  it('routes a Reject to the rejected command (RFC 7143 11.17)', async (t) => {
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        const b = header(0x3f, 0x80, 0xffffffff, c);
        b[2] = 0x09;
        c.statSn++;
        send(frame(b, pdu.bhs));
      },
    });
    const session = await open(target.port, {});
    t.after(() => session.destroy());
    await assert.rejects(session.testUnitReady(), (err: unknown) => err instanceof WireError && err.code === 'ISCSI_WIRE_REJECTED' && /0x9/.test(err.message));
  });

  it('asks SendTargets=All in a Text Request and returns the pairs (RFC 7143 11.10, 11.11)', async (t) => {
    const target = await scriptedTarget(t, {
      loginKeys: 'MaxRecvDataSegmentLength=8192\0',
      counters: { statSn: 0, expCmdSn: 1, maxCmdSn: 8 },
      onPdu(pdu, send, c) {
        if (opcode(pdu) !== 0x04) return;
        c.expCmdSn++;
        c.maxCmdSn++;
        const b = header(0x24, 0x80, itt(pdu), c);
        c.statSn++;
        send(frame(b, Buffer.from('TargetName=iqn.2026-11.test:a\0TargetAddress=127.0.0.1:3260,1\0')));
      },
    });
    const session = await IscsiSession.open({ host: '127.0.0.1', port: target.port, initiatorIqn: 'iqn.2026-11.test:unit-i', sessionType: 'Discovery', timeoutMs: 3000 });
    t.after(() => session.destroy());
    assert.deepEqual(await session.sendTargets(), [
      ['TargetName', 'iqn.2026-11.test:a'],
      ['TargetAddress', '127.0.0.1:3260,1'],
    ]);
    const request = target.received[0]!;
    assert.equal(request.bhs[0], 0x04, 'non-immediate Text Request');
    assert.equal(request.bhs[1], 0x80, 'F bit');
    assert.equal(request.bhs.readUInt32BE(24), 1, 'CmdSN');
    assert.equal(request.data.toString(), 'SendTargets=All\0');
  });

  it('fails a login cleanly when the target closes the connection', async () => {
    // A target that closes during login: the error is a WireError, not a hang.
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as net.AddressInfo).port;
      await assert.rejects(open(port, {}), (err: unknown) => err instanceof WireError && err.code === 'ISCSI_WIRE_CLOSED');
    } finally {
      server.close();
    }
  });
});
