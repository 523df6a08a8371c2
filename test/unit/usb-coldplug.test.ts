// Finding USB sticks plugged in before the supervisor started: the sysfs uevent and udev
// database parsers (hostile input), the udev rule's conditions, and a directory tree laid out
// like /sys/class/block + /run/udev/data.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseUdevDatabaseEntry, parseUevent, presentUsbStorage, usbAddEvent } from '../../src/storage/usb-coldplug.js';
import { tempDir } from '../helpers/tools.js';

test('uevent and udev database: known shapes only, control characters dropped, values and reads bounded', () => {
  assert.deepEqual(parseUevent('MAJOR=8\nMINOR=17\nDEVNAME=sdb1\nDEVTYPE=partition\nPARTN=1\nlower=x\n=novalue\n'), {
    MAJOR: '8', MINOR: '17', DEVNAME: 'sdb1', DEVTYPE: 'partition', PARTN: '1',
  });
  assert.deepEqual(
    parseUdevDatabaseEntry('S:disk/by-id/usb-X\nI:99\nE:ID_BUS=usb\nE:ID_FS_LABEL=A\x07B\x7f\nG:systemd\nE:bad key=1\nQ:1\n'),
    { ID_BUS: 'usb', ID_FS_LABEL: 'AB' },
  );
  assert.equal(parseUdevDatabaseEntry(`E:ID_SERIAL=${'s'.repeat(5000)}\n`)['ID_SERIAL']!.length, 200);
  assert.deepEqual(parseUdevDatabaseEntry(`${'\n'.repeat(70_000)}E:ID_BUS=usb\n`), {}, 'only the first 64 KiB are read');
  assert.deepEqual(parseUdevDatabaseEntry('\0\0E:\0'), {});
});

test("the udev rule's conditions: a USB partition, or a whole USB disk holding a filesystem", () => {
  const usbPartition = { ID_BUS: 'usb', ID_FS_TYPE: 'vfat', ID_FS_LABEL: 'STICK', ID_FS_UUID: '1234-ABCD', ID_SERIAL: 'Vendor_Stick_01-0:0' };
  assert.deepEqual(usbAddEvent({ DEVNAME: 'sdb1', DEVTYPE: 'partition' }, usbPartition, '/dev'), {
    ACTION: 'add', DEVNAME: '/dev/sdb1', ID_FS_TYPE: 'vfat', ID_FS_LABEL: 'STICK', ID_FS_UUID: '1234-ABCD', ID_SERIAL: 'Vendor_Stick_01-0:0',
  });
  assert.equal(usbAddEvent({ DEVNAME: 'sdb', DEVTYPE: 'disk' }, { ID_BUS: 'usb', ID_FS_USAGE: 'filesystem', ID_FS_TYPE: 'exfat' }, '/dev')?.['DEVNAME'], '/dev/sdb', 'a superfloppy');
  assert.equal(usbAddEvent({ DEVNAME: 'sdb', DEVTYPE: 'disk' }, { ID_BUS: 'usb', ID_PART_TABLE_TYPE: 'dos' }, '/dev'), undefined, 'the disk under the partitions');
  assert.equal(usbAddEvent({ DEVNAME: 'vda1', DEVTYPE: 'partition' }, { ID_BUS: 'ata', ID_FS_TYPE: 'ext4' }, '/dev'), undefined, 'not USB');
  assert.equal(usbAddEvent({ DEVNAME: 'sdc1', DEVTYPE: 'partition' }, {}, '/dev'), undefined, 'not processed by udev yet');
  assert.equal(usbAddEvent({ DEVNAME: '../etc/passwd', DEVTYPE: 'partition' }, usbPartition, '/dev'), undefined, 'a name that leaves /dev');
  assert.equal(usbAddEvent({ DEVTYPE: 'partition' }, usbPartition, '/dev'), undefined, 'no name');
});

test('present USB storage: read from a sysfs-like tree and a udev database, in name order', async (t) => {
  const dir = await tempDir(t, 'lanboot-usb-coldplug-');
  const sys = path.join(dir, 'sys');
  const udev = path.join(dir, 'udev');
  fs.mkdirSync(udev);
  const device = (name: string, number: string, devtype: string, properties: string[] | undefined) => {
    fs.mkdirSync(path.join(sys, name), { recursive: true });
    fs.writeFileSync(path.join(sys, name, 'uevent'), `MAJOR=${number.split(':')[0]}\nMINOR=${number.split(':')[1]}\nDEVNAME=${name}\nDEVTYPE=${devtype}\n`);
    fs.writeFileSync(path.join(sys, name, 'dev'), `${number}\n`);
    if (properties) fs.writeFileSync(path.join(udev, `b${number}`), `${properties.join('\n')}\n`);
  };
  device('vda', '254:0', 'disk', ['E:ID_PART_TABLE_TYPE=gpt']);
  device('sdc1', '8:33', 'partition', ['E:ID_BUS=usb', 'E:ID_FS_TYPE=ext4', 'E:ID_FS_LABEL=SECOND']);
  device('sdb', '8:16', 'disk', ['E:ID_BUS=usb', 'E:ID_PART_TABLE_TYPE=dos']);
  device('sdb1', '8:17', 'partition', ['E:ID_BUS=usb', 'E:ID_FS_TYPE=vfat', 'E:ID_FS_LABEL=FIRST']);
  device('sdd1', '8:49', 'partition', undefined); // udev has not got to it yet
  fs.mkdirSync(path.join(sys, 'broken'));
  fs.writeFileSync(path.join(sys, 'broken', 'dev'), 'not a number');
  const events = await presentUsbStorage({ sysBlockDir: sys, udevDataDir: udev, devDir: '/dev' });
  assert.deepEqual(events.map((e) => [e['DEVNAME'], e['ID_FS_LABEL']]), [['/dev/sdb1', 'FIRST'], ['/dev/sdc1', 'SECOND']]);
  assert.deepEqual(await presentUsbStorage({ sysBlockDir: path.join(dir, 'missing'), udevDataDir: udev, devDir: '/dev' }), [], 'no sysfs: nothing');
});
