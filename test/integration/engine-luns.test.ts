// A target with more than one LUN in the native engine (the addon driven as the supervisor
// drives it), over iSCSI on loopback with the wire-level initiator (test/helpers/iscsi-wire.ts):
// REPORT LUNS lists every LUN, each LUN reads and writes its own disk, a LUN the target does
// not have answers LOGICAL UNIT NOT SUPPORTED; a reset drops the system and shared disks'
// deltas but keeps the data disk's; adding a LUN keeps LUN 0's open store; bad LUN configs
// are refused and leave the target as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadNative, type LunConfig, type TargetConfig } from '../../src/native/index.js';
import { Cdb, IscsiSession } from '../helpers/iscsi-wire.js';

const TARGET = 'iqn.2026-11.local.lanboot:seat.luns';
const INITIATOR = 'iqn.2026-11.local.lanboot:pc.luns';
const BLOCK = 512;

function reportLunsCdb(allocation = 256): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = 0xa0;
  cdb.writeUInt32BE(allocation, 6);
  return cdb;
}

test('a target with a system, a data and a shared LUN', { timeout: 60_000 }, async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-luns-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const systemGolden = path.join(dir, 'system.img');
  const sharedGolden = path.join(dir, 'shared.img');
  fs.writeFileSync(systemGolden, Buffer.alloc(1024 * 1024, 0x53));
  fs.writeFileSync(sharedGolden, Buffer.alloc(2 * 1024 * 1024, 0x47));

  const native = loadNative();
  const engine = new native.IscsiEngine(() => undefined);
  t.after(() => engine.close());
  const port = engine.listen('127.0.0.1', 0);
  const data: LunConfig = { lun: 1, goldenPath: '', deltaDir: path.join(dir, 'data'), sizeBytes: 4 * 1024 * 1024, serial: 'DATA0001', naaHex: '5000000000000002', resetWithTarget: false };
  const shared: LunConfig = { lun: 2, goldenPath: sharedGolden, deltaDir: path.join(dir, 'shared-delta'), serial: 'SHARED01', naaHex: '5000000000000003', resetWithTarget: true };
  const config: TargetConfig = { iqn: TARGET, goldenPath: systemGolden, deltaDir: path.join(dir, 'system'), initiators: [INITIATOR], serial: 'SYSTEM01', naaHex: '5000000000000001' };

  // First LUN 0 alone: REPORT LUNS lists one LUN.
  engine.setTarget(config);
  let session = await IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: INITIATOR, targetIqn: TARGET });
  await session.clearUnitAttention();
  const one = await session.scsi(reportLunsCdb(), { readLength: 256 });
  assert.equal(one.data.readUInt32BE(0), 8);
  await session.scsi(Cdb.write10(0, 1), { writeData: Buffer.alloc(BLOCK, 0x01) });

  // Adding LUNs keeps LUN 0's disk (its write is still there); the session ends because the
  // target's set of LUNs changed, and the next one sees all three.
  engine.setTarget({ ...config, luns: [data, shared] });
  await session.connection.closed;
  session = await IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: INITIATOR, targetIqn: TARGET });
  t.after(() => session.connection.destroy());
  await session.clearUnitAttention();
  const list = await session.scsi(reportLunsCdb(), { readLength: 256 });
  assert.equal(list.status, 0);
  assert.equal(list.data.readUInt32BE(0), 24, 'three LUNs');
  assert.deepEqual([list.data[9], list.data[17], list.data[25]], [0, 1, 2]);
  // Asked through LUN 2, the same list.
  assert.deepEqual((await session.scsi(reportLunsCdb(), { readLength: 256, lun: 2 })).data, list.data);

  const read = async (lun: number, lba = 0) => {
    const r = await session.scsi(Cdb.read10(lba, 1), { readLength: BLOCK, lun });
    assert.equal(r.status, 0, `read LUN ${lun}: ${JSON.stringify(r.senseInfo)}`);
    return r.data[0];
  };
  const capacityBlocks = async (lun: number) => {
    for (let i = 0; i < 3; i++) {
      const r = await session.scsi(Cdb.readCapacity10(), { readLength: 8, lun });
      if (r.status === 0) return r.data.readUInt32BE(0) + 1;
    }
    throw new Error(`READ CAPACITY of LUN ${lun} kept failing`);
  };
  assert.equal(await capacityBlocks(0), 2048);
  assert.equal(await capacityBlocks(1), 8192);
  assert.equal(await capacityBlocks(2), 4096);
  assert.equal(await read(0), 0x01, 'LUN 0 kept its store');
  assert.equal(await read(1), 0x00, 'a blank data disk');
  assert.equal(await read(2), 0x47, 'the shared image');

  for (const [lun, byte] of [[1, 0xd1], [2, 0xd2]] as const) {
    const w = await session.scsi(Cdb.write10(0, 1), { writeData: Buffer.alloc(BLOCK, byte), lun });
    assert.equal(w.status, 0);
  }
  assert.deepEqual([await read(0), await read(1), await read(2)], [0x01, 0xd1, 0xd2]);
  assert.equal(fs.readFileSync(sharedGolden)[0], 0x47, 'the shared image file is never written');

  // LUN 3 does not exist.
  const missing = await session.scsi(Cdb.read10(0, 1), { readLength: BLOCK, lun: 3 });
  assert.equal(missing.status, 2);
  assert.deepEqual([missing.senseInfo?.key, missing.senseInfo?.asc], [5, 0x25]);

  // A reset: system and shared disks back to their golden images, the data disk keeps its write.
  engine.resetDisk(TARGET);
  await session.connection.closed;
  session = await IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: INITIATOR, targetIqn: TARGET });
  await session.clearUnitAttention();
  assert.deepEqual([await read(0), await read(1), await read(2)], [0x53, 0xd1, 0x47]);

  // Bad LUN lists are refused and change nothing.
  const refused: [Partial<LunConfig>[], RegExp][] = [
    [[{ ...data, lun: 0 }], /lun must be a number 1-15/],
    [[{ ...data, lun: 16 }], /lun must be a number 1-15/],
    [[data, { ...shared, lun: 1 }], /each once, in increasing order/],
    [[{ ...data, resetWithTarget: undefined }], /resetWithTarget/],
    [[{ ...shared, goldenPath: path.join(dir, 'no-such.img') }], /no-such\.img/],
  ];
  for (const [luns, message] of refused) {
    assert.throws(() => engine.setTarget({ ...config, luns: luns as LunConfig[] }), message);
  }
  assert.equal(session.connection.socket.destroyed, false, 'the session survived the refused configs');
  assert.deepEqual([await read(0), await read(1), await read(2)], [0x53, 0xd1, 0x47]);
});
