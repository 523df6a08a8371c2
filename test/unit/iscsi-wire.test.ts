// The test initiator's codec and login state machine, fed literal bytes (RFC 7143 layouts).
// Expected values are written out by hand from the RFC, not computed by the code under test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cdb,
  LoginNegotiation,
  PduStreamDecoder,
  WireError,
  buildDataOut,
  buildLoginRequest,
  buildNopOut,
  buildScsiCommand,
  chapResponse,
  decodeChapBinary,
  decodePdu,
  decodeTextKeys,
  encodeLun,
  encodePdu,
  encodeTextKeys,
  parseDataIn,
  parseLoginResponse,
  parseR2t,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReject,
  parseScsiResponse,
  parseSense,
  senseFromResponseData,
  type Pdu,
} from '../helpers/iscsi-wire.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function bhsWith(bytes: Record<number, number>): Buffer {
  const b = Buffer.alloc(48);
  for (const [i, v] of Object.entries(bytes)) b[Number(i)] = v;
  return b;
}

function expectWireError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof WireError && err.code === code);
}

describe('PDU framing (RFC 7143 11.2)', () => {
  it('encodes a NOP-Out with 5 data bytes padded to 8, lengths filled in', () => {
    const bhs = buildNopOut({ itt: 0x01020304, cmdSn: 7, expStatSn: 9 });
    const bytes = encodePdu({ bhs, data: Buffer.from('hello') });
    assert.equal(bytes.length, 48 + 8);
    assert.deepEqual(
      bytes,
      hex(`
        40 80 00 00  00 00 00 05  00 00 00 00 00 00 00 00
        01 02 03 04  ff ff ff ff  00 00 00 07  00 00 00 09
        00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
        68 65 6c 6c  6f 00 00 00`),
    );
  });

  it('keeps lying length fields when asked (for malformed-input tests)', () => {
    const bhs = bhsWith({ 0: 0x40, 5: 0xff, 6: 0xff, 7: 0xff });
    const bytes = encodePdu({ bhs, data: Buffer.from([1]) }, true);
    assert.deepEqual([...bytes.subarray(4, 8)], [0, 0xff, 0xff, 0xff]);
    assert.equal(bytes.length, 52);
  });

  it('decodes BHS, AHS and data, and says how many bytes it used', () => {
    const wire = Buffer.concat([
      bhsWith({ 0: 0x21, 4: 1, 7: 3 }), // TotalAHSLength 1 word, DataSegmentLength 3
      hex('00 01 01 00'), // AHS
      hex('aa bb cc 00'), // data + 1 pad byte
      hex('ee'), // start of the next PDU
    ]);
    const out = decodePdu(wire);
    assert.ok(out);
    assert.equal(out.consumed, 56);
    assert.deepEqual([...out.pdu.ahs], [0, 1, 1, 0]);
    assert.deepEqual([...out.pdu.data], [0xaa, 0xbb, 0xcc]);
  });

  it('waits for more bytes instead of reading past the buffer', () => {
    const wire = Buffer.concat([bhsWith({ 0: 0x20, 7: 8 }), hex('01 02 03')]);
    assert.equal(decodePdu(wire), null);
    assert.equal(decodePdu(wire.subarray(0, 47)), null);
  });

  it('refuses a DataSegmentLength over its limit before buffering it', () => {
    const wire = bhsWith({ 0: 0x25, 5: 0x01, 6: 0x00, 7: 0x01 }); // 65537
    expectWireError(() => decodePdu(wire, 65536), 'ISCSI_WIRE_DATA_TOO_LONG');
  });

  it('splits a stream fed one byte at a time', () => {
    const a = encodePdu({ bhs: bhsWith({ 0: 0x20 }), data: Buffer.from('abcdef') });
    const b = encodePdu({ bhs: bhsWith({ 0: 0x3f }) });
    const decoder = new PduStreamDecoder();
    const got: Pdu[] = [];
    for (const byte of Buffer.concat([a, b])) got.push(...decoder.push(Buffer.from([byte])));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.data.toString(), 'abcdef');
    assert.equal(got[1]!.bhs[0], 0x3f);
    assert.equal(decoder.bufferedBytes, 0);
  });
});

describe('request builders', () => {
  it('lays out a SCSI Command WRITE(10) FUA, LUN 1 (RFC 7143 11.3)', () => {
    const bhs = buildScsiCommand({ itt: 5, cmdSn: 0x10, expStatSn: 0x20, cdb: Cdb.write10(0x1234, 2, true), expectedDataTransferLength: 1024, write: true, lun: 1 });
    assert.deepEqual(
      bhs,
      hex(`
        01 a1 00 00  00 00 00 00  00 01 00 00 00 00 00 00
        00 00 00 05  00 00 04 00  00 00 00 10  00 00 00 20
        2a 08 00 00  12 34 00 00  02 00 00 00  00 00 00 00`),
    );
  });

  it('lays out READ(16) and SYNCHRONIZE CACHE(10) CDBs (SBC-4 5.16, 5.24)', () => {
    assert.deepEqual(Cdb.read16(0x0102030405060708n, 0x10, false), hex('88 00 01 02 03 04 05 06 07 08 00 00 00 10 00 00'));
    assert.deepEqual(Cdb.synchronizeCache10(), hex('35 00 00 00 00 00 00 00 00 00'));
    assert.deepEqual(Cdb.readCapacity16(32), hex('9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00'));
  });

  it('encodes LUN 0, 1 and 300 (SAM-5 4.7: peripheral and flat addressing)', () => {
    assert.deepEqual(encodeLun(0), hex('00 00 00 00 00 00 00 00'));
    assert.deepEqual(encodeLun(1), hex('00 01 00 00 00 00 00 00'));
    assert.deepEqual(encodeLun(300), hex('41 2c 00 00 00 00 00 00'));
  });

  it('lays out a Data-Out (RFC 7143 11.7)', () => {
    const bhs = buildDataOut({ itt: 5, ttt: 0xabcd, expStatSn: 3, dataSn: 2, bufferOffset: 0x2000, final: true });
    assert.deepEqual(
      bhs,
      hex(`
        05 80 00 00  00 00 00 00  00 00 00 00 00 00 00 00
        00 00 00 05  00 00 ab cd  00 00 00 00  00 00 00 03
        00 00 00 00  00 00 00 02  00 00 20 00  00 00 00 00`),
    );
  });

  it('lays out a Login Request T=1 CSG=1 NSG=3 (RFC 7143 11.12)', () => {
    const bhs = buildLoginRequest({ transit: true, csg: 1, nsg: 3, isid: hex('80 11 22 33 44 55'), tsih: 0, itt: 0x1000, cid: 0, cmdSn: 1, expStatSn: 0 });
    assert.deepEqual(
      bhs,
      hex(`
        43 87 00 00  00 00 00 00  80 11 22 33 44 55 00 00
        00 00 10 00  00 00 00 00  00 00 00 01  00 00 00 00
        00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`),
    );
    // NSG is only meaningful with T=1 (RFC 7143 11.12.3): it is sent as 0 otherwise.
    assert.equal(buildLoginRequest({ transit: false, csg: 0, nsg: 1, isid: Buffer.alloc(6), tsih: 0, itt: 0, cid: 0, cmdSn: 0, expStatSn: 0 })[1], 0x00);
  });
});

describe('response parsers', () => {
  it('reads a Login Response with status 0x0201 (RFC 7143 11.13)', () => {
    const r = parseLoginResponse(bhsWith({ 0: 0x23, 1: 0x81, 3: 0x00, 14: 0x12, 15: 0x34, 27: 5, 31: 6, 35: 7, 36: 0x02, 37: 0x01 }));
    assert.deepEqual(
      { transit: r.transit, csg: r.csg, nsg: r.nsg, tsih: r.tsih, statSn: r.statSn, expCmdSn: r.expCmdSn, maxCmdSn: r.maxCmdSn, cls: r.statusClass, detail: r.statusDetail },
      { transit: true, csg: 0, nsg: 1, tsih: 0x1234, statSn: 5, expCmdSn: 6, maxCmdSn: 7, cls: 2, detail: 1 },
    );
    expectWireError(() => parseLoginResponse(bhsWith({ 0: 0x21 })), 'ISCSI_WIRE_PROTOCOL');
  });

  it('reads a SCSI Response with underflow and CHECK CONDITION sense (RFC 7143 11.4)', () => {
    const bhs = bhsWith({ 0: 0x21, 1: 0x82, 2: 0x00, 3: 0x02, 19: 9, 47: 0x40 });
    const r = parseScsiResponse(bhs);
    assert.equal(r.underflow, true);
    assert.equal(r.overflow, false);
    assert.equal(r.status, 2);
    assert.equal(r.itt, 9);
    assert.equal(r.residualCount, 0x40);
    // SenseLength 18, fixed-format sense: ILLEGAL REQUEST, LBA OUT OF RANGE (21h/00h).
    const data = hex('00 12  70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 00 00 00');
    const sense = senseFromResponseData(data);
    assert.equal(sense.length, 18);
    assert.deepEqual(parseSense(sense), { responseCode: 0x70, key: 5, asc: 0x21, ascq: 0 });
  });

  it('bounds SenseLength by the data actually present', () => {
    assert.equal(senseFromResponseData(hex('ff ff 70 00')).length, 2);
    assert.equal(senseFromResponseData(hex('00')).length, 0);
    assert.equal(parseSense(hex('70 00 05')), undefined);
  });

  it('reads descriptor-format sense (SPC-4 4.4.2)', () => {
    assert.deepEqual(parseSense(hex('72 06 29 00 00 00 00 00')), { responseCode: 0x72, key: 6, asc: 0x29, ascq: 0 });
  });

  it('reads Data-In with status, and R2T (RFC 7143 11.7, 11.8)', () => {
    const d = parseDataIn(bhsWith({ 0: 0x25, 1: 0x81, 3: 0x00, 19: 3, 39: 1, 42: 0x20, 43: 0x00 }));
    assert.deepEqual([d.final, d.hasStatus, d.status, d.itt, d.dataSn, d.bufferOffset], [true, true, 0, 3, 1, 0x2000]);
    const r = parseR2t(bhsWith({ 0: 0x31, 1: 0x80, 19: 3, 20: 0xaa, 23: 0xbb, 39: 2, 42: 0x10, 46: 0x20 }));
    assert.deepEqual([r.itt, r.ttt, r.r2tSn, r.bufferOffset, r.desiredLength], [3, 0xaa0000bb, 2, 0x1000, 0x2000]);
  });

  it('reads a Reject and the ITT of the header it carries (RFC 7143 11.17)', () => {
    const rejected = bhsWith({ 0: 0x47, 19: 0x42 });
    const pdu: Pdu = { bhs: bhsWith({ 0: 0x3f, 1: 0x80, 2: 0x05, 27: 4 }), ahs: Buffer.alloc(0), data: rejected };
    const r = parseReject(pdu);
    assert.equal(r.reason, 0x05);
    assert.equal(r.statSn, 4);
    assert.equal(r.rejectedItt, 0x42);
    assert.equal(parseReject({ ...pdu, data: Buffer.alloc(10) }).rejectedItt, undefined);
  });

  it('reads READ CAPACITY data (SBC-4 5.20, 5.21)', () => {
    assert.deepEqual(parseReadCapacity10(hex('00 00 1f ff 00 00 02 00')), { blocks: 0x2000n, blockSize: 512 });
    assert.deepEqual(parseReadCapacity16(hex('00 00 00 01 00 00 00 00 00 00 02 00 00 03')), { blocks: 0x100000001n, blockSize: 512 });
    expectWireError(() => parseReadCapacity10(hex('00 00')), 'ISCSI_WIRE_SHORT_BUFFER');
  });
});

describe('text keys (RFC 7143 6.1)', () => {
  it('encodes and decodes NUL-terminated pairs in order', () => {
    const bytes = encodeTextKeys([
      ['HeaderDigest', 'None'],
      ['MaxRecvDataSegmentLength', '8192'],
    ]);
    assert.deepEqual(bytes, Buffer.from('HeaderDigest=None\0MaxRecvDataSegmentLength=8192\0'));
    assert.deepEqual(decodeTextKeys(bytes), [
      ['HeaderDigest', 'None'],
      ['MaxRecvDataSegmentLength', '8192'],
    ]);
    assert.deepEqual(decodeTextKeys(Buffer.from('A=\0')), [['A', '']]);
    assert.deepEqual(decodeTextKeys(Buffer.from('A=b=c\0')), [['A', 'b=c']]);
  });

  it('refuses text without NUL, without "=", with an empty or 64-byte key', () => {
    for (const bad of ['A=b', 'Ab\0', '=b\0', 'A=b\0\0', `${'K'.repeat(64)}=v\0`]) {
      expectWireError(() => decodeTextKeys(Buffer.from(bad)), 'ISCSI_WIRE_BAD_TEXT');
    }
    assert.deepEqual(decodeTextKeys(Buffer.from(`${'K'.repeat(63)}=v\0`)), [['K'.repeat(63), 'v']]);
  });
});

describe('CHAP (RFC 1994 4.1, RFC 7143 12.1.3)', () => {
  it('computes MD5(id || secret || challenge) (vectors from Python hashlib)', () => {
    const challenge = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
    assert.equal(chapResponse(0x2a, 'secret123456', challenge).toString('hex'), 'e7f7b3cbaa745c95cc535cfc6d082c08');
    assert.equal(chapResponse(1, 'abc', hex('deadbeef')).toString('hex'), 'd98c53836bf69f1fc3930d8bc61d93aa');
  });

  it('decodes hex and base64 binary values and refuses anything else', () => {
    assert.deepEqual([...decodeChapBinary('0xDEADbeef')], [0xde, 0xad, 0xbe, 0xef]);
    assert.deepEqual([...decodeChapBinary('0x123')], [0x01, 0x23]);
    assert.deepEqual([...decodeChapBinary('0b3q2+7w==')], [0xde, 0xad, 0xbe, 0xef]);
    for (const bad of ['deadbeef', '0x', '0xzz', '0b', '']) expectWireError(() => decodeChapBinary(bad), 'ISCSI_WIRE_BAD_CHAP');
  });
});

describe('login state machine (RFC 7143 6.3)', () => {
  const loginResponse = (flags: number, keys: string, extra: Record<number, number> = {}): Pdu => ({
    bhs: bhsWith({ 0: 0x23, 1: flags, 14: 0x00, 15: 0x07, 27: 0, 31: 1, 35: 32, ...extra }),
    ahs: Buffer.alloc(0),
    data: Buffer.from(keys),
  });

  it('without CHAP: one operational round straight to full feature phase', () => {
    const n = new LoginNegotiation({ initiatorIqn: 'iqn.x:i', targetIqn: 'iqn.x:t', isid: hex('80 00 00 00 00 01') });
    const first = n.start();
    assert.equal(first.kind, 'send');
    if (first.kind !== 'send') return;
    assert.equal(first.bhs[0], 0x43);
    assert.equal(first.bhs[1], 0x87); // T=1 CSG=1 NSG=3
    const keys = new Map(decodeTextKeys(first.data));
    assert.equal(keys.get('InitiatorName'), 'iqn.x:i');
    assert.equal(keys.get('TargetName'), 'iqn.x:t');
    assert.equal(keys.get('HeaderDigest'), 'None');
    assert.equal(keys.get('ErrorRecoveryLevel'), '0');
    const done = n.onResponse(
      loginResponse(0x87, 'MaxRecvDataSegmentLength=8192\0InitialR2T=No\0ImmediateData=Yes\0MaxBurstLength=65536\0FirstBurstLength=262144\0'),
    );
    assert.equal(done.kind, 'done');
    if (done.kind !== 'done') return;
    assert.equal(done.tsih, 7);
    assert.equal(done.maxCmdSn, 32);
    assert.equal(done.params.targetMaxRecvDataSegmentLength, 8192);
    assert.equal(done.params.initialR2T, true); // OR with our Yes (13.10)
    assert.equal(done.params.immediateData, false); // AND with our No (13.11)
    assert.equal(done.params.maxBurstLength, 65536); // min (13.13)
    assert.equal(done.params.firstBurstLength, 65536); // min, and never above MaxBurstLength (13.14)
  });

  it('with CHAP: AuthMethod, CHAP_A, then CHAP_N/CHAP_R with the right MD5', () => {
    const n = new LoginNegotiation({ initiatorIqn: 'iqn.x:i', targetIqn: 'iqn.x:t', chap: { user: 'seat1', secret: 'secret123456' } });
    const offer = n.start();
    assert.ok(offer.kind === 'send');
    assert.equal(offer.bhs[1], 0x00); // T=0 CSG=0
    assert.equal(new Map(decodeTextKeys(offer.data)).get('AuthMethod'), 'CHAP');
    const chapA = n.onResponse(loginResponse(0x00, 'AuthMethod=CHAP\0'));
    assert.ok(chapA.kind === 'send');
    assert.deepEqual(decodeTextKeys(chapA.data), [['CHAP_A', '5']]);
    const chapR = n.onResponse(loginResponse(0x00, 'CHAP_A=5\0CHAP_I=42\0CHAP_C=0x000102030405060708090a0b0c0d0e0f\0'));
    assert.ok(chapR.kind === 'send');
    assert.equal(chapR.bhs[1], 0x81); // T=1 CSG=0 NSG=1
    assert.deepEqual(decodeTextKeys(chapR.data), [
      ['CHAP_N', 'seat1'],
      ['CHAP_R', '0xe7f7b3cbaa745c95cc535cfc6d082c08'],
    ]);
    const operational = n.onResponse(loginResponse(0x81, ''));
    assert.ok(operational.kind === 'send');
    assert.equal(operational.bhs[1], 0x87);
    assert.equal(new Map(decodeTextKeys(operational.data)).get('MaxRecvDataSegmentLength'), '262144');
  });

  it('reports a login reject with its class and detail', () => {
    const n = new LoginNegotiation({ initiatorIqn: 'iqn.x:i', targetIqn: 'iqn.x:t' });
    n.start();
    const step = n.onResponse(loginResponse(0x00, '', { 36: 0x02, 37: 0x01 }));
    assert.deepEqual(step.kind === 'failed' ? [step.statusClass, step.statusDetail] : step.kind, [2, 1]);
  });

  it('refuses a CHAP challenge with a bad identifier or no challenge', () => {
    for (const keys of ['CHAP_A=5\0CHAP_I=300\0CHAP_C=0x00\0', 'CHAP_A=5\0CHAP_I=1\0', 'CHAP_A=7\0CHAP_I=1\0CHAP_C=0x00\0']) {
      const n = new LoginNegotiation({ initiatorIqn: 'iqn.x:i', targetIqn: 'iqn.x:t', chap: { user: 'u', secret: 's' } });
      n.start();
      n.onResponse(loginResponse(0x00, 'AuthMethod=CHAP\0'));
      assert.equal(n.onResponse(loginResponse(0x00, keys)).kind, 'failed', keys);
    }
  });
});
