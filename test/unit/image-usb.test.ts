// UsbWatcher pieces that need no supervisor: the event parser (hostile input), and release
// refused while an import reads from the stick.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { migrate, openDatabase } from '../../src/db/database.js';
import { ImageRepository } from '../../src/db/images.js';
import { ImageStore } from '../../src/storage/image-store.js';
import { ImportManager } from '../../src/storage/import-manager.js';
import { loadNative } from '../../src/native/index.js';
import { DataLayout } from '../../src/storage/layout.js';
import { UsbWatcher, parseUsbEvent } from '../../src/storage/usb.js';
import { tempDir } from '../helpers/tools.js';

test('usb events: known keys only, control characters and overlong values refused, size bounded', () => {
  assert.deepEqual(parseUsbEvent('ACTION=add\nDEVNAME=/dev/sdb1\nID_FS_TYPE=vfat\nEVIL=1\nID_FS_LABEL=\x07bell\n'), {
    ACTION: 'add',
    DEVNAME: '/dev/sdb1',
    ID_FS_TYPE: 'vfat',
  });
  assert.deepEqual(parseUsbEvent(`ACTION=add\nDEVNAME=${'x'.repeat(300)}\n`), { ACTION: 'add' });
  assert.deepEqual(parseUsbEvent(`${'\n'.repeat(5000)}ACTION=remove\n`), {}, 'only the first 4 KiB are read');
  assert.deepEqual(parseUsbEvent('\0\0\0'), {});
});

test('release is refused while an import reads from the stick, and allowed after it', async (t) => {
  const dir = await tempDir(t, 'lanboot-usb-unit-');
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db);
  const layout = new DataLayout(path.join(dir, 'data'));
  fs.mkdirSync(layout.dataDir);
  const logger = pino({ level: 'silent' });
  const store = new ImageStore(layout, new ImageRepository(db));
  const imports = new ImportManager({ db, store, layout, logger, verifiedCopy: loadNative().verifiedCopy });
  const spool = path.join(dir, 'spool');
  const usb = new UsbWatcher({ layout, imports, logger, spoolDir: spool, allowDirectories: true });
  t.after(() => usb.stop());
  await usb.start();
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(stick);
  const disk = Buffer.alloc(1024 * 1024);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  fs.writeFileSync(path.join(stick, 'disk.img'), disk);
  fs.writeFileSync(path.join(spool, '1.event'), `ACTION=add\nDEVNAME=${stick}\n`);
  await usb.sync();
  const [device] = usb.list();
  assert.equal(device!.state, 'mounted', device!.error ?? '');
  const job = await usb.importFile(device!.id, 'disk.img', 'stick');
  assert.equal(usb.get(device!.id).busy, true);
  await assert.rejects(usb.release(device!.id), /is being imported from; wait for the import to finish/);
  const done = await imports.wait(job.id);
  assert.equal(done.state, 'done', JSON.stringify(done.error));
  await usb.release(device!.id);
  assert.deepEqual(usb.list(), []);
  // A directory is refused when stand-ins are not allowed (the appliance).
  const strict = new UsbWatcher({ layout, imports, logger, spoolDir: path.join(dir, 'spool2') });
  t.after(() => strict.stop());
  await strict.start();
  fs.writeFileSync(path.join(dir, 'spool2', '1.event'), `ACTION=add\nDEVNAME=${stick}\n`);
  await strict.sync();
  assert.match(strict.list()[0]!.error ?? '', /is a directory, not a device/);
});
