// The iPXE script writer (src/boot/ipxe-script.ts) with hostile values in every field: it
// refuses with LANBOOT_BOOT_SCRIPT_UNSAFE, or writes a script with exactly the lines of the
// template, where nothing but the template expands (`${`) or chains commands (`||`, `&&`).
import { enrollmentScript, macProbeScript, sanBootScript } from '../../../src/boot/ipxe-script.js';
import { LanbootError } from '../../../src/log/errors.js';
import type { FuzzTarget } from '../fuzzer.js';

const SAFE = { seatName: 'pc-1', server: '10.0.0.1', targetIqn: 'iqn.2024-01.lanboot:pc-1', initiatorIqn: 'iqn.2024-01.lanboot:init', user: 'u', secret: 's', url: 'http://10.0.0.1/boot.ipxe' };
const MODES = ['fresh', 'persistent', 'maintenance', 'install'] as const;

function fields(data: Buffer): string[] {
  return data.toString('latin1').split('\x00');
}

function lines(script: string): string[] {
  return script.split('\n');
}

function check(script: string, reference: string): void {
  const got = lines(script);
  const want = lines(reference);
  if (got.length !== want.length) throw new Error(`script has ${got.length} lines, the template ${want.length}:\n${script}`);
  for (let i = 0; i < got.length; i++) {
    const count = (text: string, token: string) => text.split(token).length - 1;
    for (const token of ['${', '||', '&&', '#', '"', "'", '\\', '\r', ';']) {
      if (count(got[i]!, token) !== count(want[i]!, token)) throw new Error(`line ${i + 1} carries an extra ${JSON.stringify(token)}: ${got[i]}`);
    }
    if (got[i]!.split(/\s+/).length !== want[i]!.split(/\s+/).length) throw new Error(`line ${i + 1} has extra words: ${got[i]}`);
  }
}

function guarded(make: () => string, reference: () => string): void {
  let script: string;
  try {
    script = make();
  } catch (error) {
    if (error instanceof LanbootError && error.code === 'LANBOOT_BOOT_SCRIPT_UNSAFE') return;
    throw error;
  }
  check(script, reference());
}

export const target: FuzzTarget = {
  maxLength: 600,
  dictionary: ['\x00', '${', '}', '||', ' ', '\n', 'iqn.', ':', 'http://', '%0a', '#', '&&', '"'],
  fuzz(data: Buffer): void {
    const f = fields(data);
    const at = (i: number, fallback: string) => f[i] ?? fallback;
    const mode = MODES[(data[0] ?? 0) % MODES.length]!;
    const chap = (data[1] ?? 0) % 2 === 0 ? { user: at(4, SAFE.user), secret: at(5, SAFE.secret) } : null;
    const mutual = (data[2] ?? 0) % 3 === 0 ? { user: at(6, SAFE.user), secret: at(7, SAFE.secret) } : null;
    const port = ((data[3] ?? 0) << 8) | (data[4] ?? 0);
    const input = {
      seatName: at(0, SAFE.seatName),
      mode,
      server: at(1, SAFE.server),
      iscsiPort: port,
      lun: (data[5] ?? 0) - 8,
      targetIqn: at(2, SAFE.targetIqn),
      initiatorIqn: at(3, SAFE.initiatorIqn),
      chap,
      mutualChap: mutual,
      retryUrl: at(8, SAFE.url),
    };
    guarded(
      () => sanBootScript(input),
      () =>
        sanBootScript({
          ...input,
          seatName: SAFE.seatName,
          server: SAFE.server,
          targetIqn: SAFE.targetIqn,
          initiatorIqn: SAFE.initiatorIqn,
          chap: chap && { user: SAFE.user, secret: SAFE.secret },
          mutualChap: mutual && { user: SAFE.user, secret: SAFE.secret },
          retryUrl: SAFE.url,
        }),
    );
    const enroll = { code: at(9, 'ACD347'), mac: at(10, '52:54:00:00:00:01'), boxUrl: at(11, 'http://10.0.0.1/'), pollUrlBase: at(12, SAFE.url), pollSeconds: (data[6] ?? 3) % 70 };
    guarded(
      () => enrollmentScript(enroll),
      () => enrollmentScript({ ...enroll, code: 'ACD347', mac: '52:54:00:00:00:01', boxUrl: 'http://10.0.0.1/', pollUrlBase: SAFE.url }),
    );
    guarded(
      () => macProbeScript(at(13, SAFE.url)),
      () => macProbeScript(SAFE.url),
    );
  },
};
