// Every third-party ISO x firmware x way of choosing it (test/helpers/iso-boot.ts); the
// short run in `npm test` is test/e2e/iso-boot.test.ts. Results: docs/testing-vm.md.
import { test } from 'node:test';
import { bootIso, ISO_BOOT_TIMEOUT_MS } from '../helpers/iso-boot.js';

let n = 0;
for (const iso of ['memtest', 'ipxe'] as const) {
  for (const firmware of ['bios', 'uefi'] as const) {
    for (const via of ['menu', 'once'] as const) {
      const mac = `52:54:00:83:02:${(++n).toString(16).padStart(2, '0')}`;
      test(`${iso} ISO boots on ${firmware} through the ${via === 'menu' ? 'boot menu' : 'one-shot next boot'}`, { timeout: ISO_BOOT_TIMEOUT_MS * 2 }, async (t) => {
        await bootIso(t, iso, firmware, via, mac);
      });
    }
  }
}
