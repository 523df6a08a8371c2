// The amd64 appliance end to end (q35, OVMF, TCG): image build, first boot with the data disk,
// READY and the watchdog, the console banner, a USB stick hot-plugged and imported, a PC
// netbooting its seat from the box, and a power cycle. The checks are in
// test/helpers/appliance-e2e.ts, shared with the arm64 run in test/slow/.
import { test } from 'node:test';
import { applianceEndToEnd } from '../helpers/appliance-e2e.js';

test('the appliance image boots read-only, serves lanboot under systemd, survives kill/hang/power cycle, and netboots a PC', { timeout: 1_500_000 }, async (t) => {
  await applianceEndToEnd(t, { arch: 'amd64', powerCycle: true });
});
