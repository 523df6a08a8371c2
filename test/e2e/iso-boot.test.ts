// Third-party ISOs booted through lanboot on qemu PCs (TCG): the short run of the matrix in
// test/slow/iso-boot-matrix.test.ts. memtest86+ picked in the boot menu with the keyboard on
// BIOS (iPXE cannot SAN-boot its floppy-emulation El Torito entry: the script falls back to
// memdisk). See test/helpers/iso-boot.ts.
import { test } from 'node:test';
import { bootIso, ISO_BOOT_TIMEOUT_MS } from '../helpers/iso-boot.js';

test('memtest86+ ISO picked in the boot menu boots on a BIOS PC (memdisk fallback)', { timeout: ISO_BOOT_TIMEOUT_MS * 2 }, async (t) => {
  await bootIso(t, 'memtest', 'bios', 'menu', '52:54:00:83:01:01');
});
