// iPXE script generation (src/boot/ipxe-script.ts) and the enrollment code
// (src/boot/enroll-code.ts): pure functions, checked line by line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enrollmentScript, iscsiSanUri, macProbeScript, sanBootScript, scriptValue, type SanBootScriptInput } from '../../src/boot/ipxe-script.js';
import { ENROLL_CODE_ALPHABET, ENROLL_CODE_LENGTH, generateEnrollCode, normalizeEnrollCode } from '../../src/boot/enroll-code.js';
import { LanbootError } from '../../src/log/errors.js';

const seat: SanBootScriptInput = {
  seatName: 'pc-7',
  mode: 'fresh',
  server: '192.168.1.10',
  iscsiPort: 3260,
  lun: 0,
  targetIqn: 'iqn.2026-11.local.lanboot:seat.pc-7',
  initiatorIqn: 'iqn.2026-11.local.lanboot:pc.pc-7',
  chap: { user: 'pc-7', secret: 'AbCdEfGh23456789' },
  mutualChap: null,
  retryUrl: 'http://192.168.1.10/boot.ipxe?mac=52-54-00-00-00-07',
};

function lines(script: string): string[] {
  return script.split('\n');
}

test('known seat: magic line, initiator IQN, CHAP, sanboot URI in iPXE form, retry on failure', () => {
  const script = sanBootScript(seat);
  const l = lines(script);
  assert.equal(l[0], '#!ipxe', 'iPXE recognises a script by its first line');
  assert.ok(l.includes('set initiator-iqn iqn.2026-11.local.lanboot:pc.pc-7'));
  assert.ok(l.includes('set username pc-7'));
  assert.ok(l.includes('set hostname pc-7'), 'the seat name goes to the iBFT as the host name');
  assert.ok(l.indexOf('set hostname pc-7') < l.findIndex((x) => x.startsWith('sanboot ')), 'set before the disk is booted');
  assert.ok(l.includes('set password AbCdEfGh23456789'));
  assert.ok(l.includes('clear reverse-username'), 'no mutual CHAP left over from an earlier script');
  assert.ok(l.includes('sanboot iscsi:192.168.1.10::3260:0:iqn.2026-11.local.lanboot:seat.pc-7 || goto failed'));
  assert.ok(!script.includes('keep-san'), 'fresh/persistent seats do not keep the SAN');
  const failed = l.indexOf(':failed');
  assert.ok(failed > l.findIndex((x) => x.startsWith('sanboot ')), 'the failure label comes after sanboot');
  assert.ok(l.includes('chain --replace --autofree http://192.168.1.10/boot.ipxe?mac=52-54-00-00-00-07 || goto failed'));
  assert.ok(script.endsWith('\n'));
});

test('known seat without CHAP clears the credentials; mutual CHAP sets the reverse pair', () => {
  const noChap = lines(sanBootScript({ ...seat, chap: null }));
  assert.ok(noChap.includes('clear username') && noChap.includes('clear password'));
  assert.ok(!noChap.some((x) => x.startsWith('set password')));
  const mutual = lines(sanBootScript({ ...seat, mutualChap: { user: 'lanboot', secret: 'ZyXwVuTs98765432' } }));
  assert.ok(mutual.includes('set reverse-username lanboot'));
  assert.ok(mutual.includes('set reverse-password ZyXwVuTs98765432'));
});

test('install mode hooks the disk with keep-san and exits to the next boot device', () => {
  const l = lines(sanBootScript({ ...seat, mode: 'install' }));
  const keep = l.indexOf('set keep-san 1');
  const hook = l.findIndex((x) => x.startsWith('sanhook --drive 0x80 iscsi:192.168.1.10::3260:0:'));
  assert.ok(keep >= 0 && hook > keep, 'keep-san is set before sanhook');
  assert.equal(l[hook + 2], 'exit');
  assert.ok(!l.some((x) => x.startsWith('sanboot ')));
});

test('persistent mode is named in the script header', () => {
  assert.match(sanBootScript({ ...seat, mode: 'persistent' }), /^# lanboot: seat pc-7 \(persistent\)$/m);
});

test('escaping: a value iPXE would parse (spaces, ${}, quotes, ||, newlines, #) is refused, never written', () => {
  const hostile = ['a b', '${net0/mac}', 'x"y', "x'y", 'a||b', 'a&&b', 'a\nchain http://evil/', '#x', 'a\\b', 'a;b', '', 'x'.repeat(256), 'é'];
  for (const value of hostile) {
    for (const input of [
      { ...seat, seatName: value },
      { ...seat, targetIqn: value },
      { ...seat, initiatorIqn: value },
      { ...seat, server: value },
      { ...seat, chap: { user: 'pc-7', secret: value } },
      { ...seat, chap: { user: value, secret: 'AbCdEfGh23456789' } },
      { ...seat, retryUrl: value },
    ]) {
      assert.throws(
        () => sanBootScript(input),
        (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_BOOT_SCRIPT_UNSAFE' && !e.message.includes(value || '\0'),
        `value ${JSON.stringify(value)}`,
      );
    }
    assert.throws(() => enrollmentScript({ code: value, mac: '52:54:00:00:00:07', boxUrl: 'http://h/', pollUrlBase: 'http://h/boot.ipxe', pollSeconds: 3 }));
    assert.throws(() => enrollmentScript({ code: 'ACDEFH', mac: '52:54:00:00:00:07', boxUrl: value, pollUrlBase: 'http://h/boot.ipxe', pollSeconds: 3 }));
  }
  assert.equal(scriptValue('iqn.2026-11.local.lanboot:seat.a-b', 'x'), 'iqn.2026-11.local.lanboot:seat.a-b');
  assert.throws(() => iscsiSanUri({ ...seat, iscsiPort: 0 }), /not a TCP port/);
  assert.throws(() => iscsiSanUri({ ...seat, iscsiPort: 70000 }), /not a TCP port/);
  assert.throws(() => iscsiSanUri({ ...seat, lun: -1 }), /out of range/);
});

test('unknown PC: shows code, MAC and box address, sleeps, and polls with its own MAC by replacing itself', () => {
  const script = enrollmentScript({ code: 'ACD347', mac: '52:54:00:00:00:07', boxUrl: 'http://192.168.1.10/', pollUrlBase: 'http://192.168.1.10/boot.ipxe', pollSeconds: 3 });
  const l = lines(script);
  assert.equal(l[0], '#!ipxe');
  assert.ok(l.includes(':wait'));
  assert.ok(l.includes('echo Enrollment code: ACD347'));
  assert.ok(l.some((x) => x.startsWith('echo ') && x.includes('52:54:00:00:00:07')));
  assert.ok(l.some((x) => x.startsWith('echo ') && x.includes('http://192.168.1.10/') && x.includes('lanboot enroll ACD347')));
  const sleep = l.indexOf('sleep 3');
  const chain = l.indexOf('chain --replace --autofree http://192.168.1.10/boot.ipxe?mac=${netX/mac:hexhyp} || goto wait');
  assert.ok(sleep > l.indexOf(':wait') && chain > sleep, `sleep then chain, got:\n${script}`);
  // Nothing in the script names a seat, an IQN or a secret.
  assert.doesNotMatch(script, /iqn\.|password|username|sanboot/);
  assert.throws(() => enrollmentScript({ code: 'ACD347', mac: 'm', boxUrl: 'http://h/', pollUrlBase: 'http://h/b', pollSeconds: 0 }), /poll interval/);
});

test('MAC probe script asks again with the MAC of the NIC iPXE booted from', () => {
  assert.equal(macProbeScript('http://10.0.0.1:8080/boot.ipxe'), '#!ipxe\nchain --replace --autofree http://10.0.0.1:8080/boot.ipxe?mac=${netX/mac:hexhyp}\n');
});

test('enrollment codes: 6 characters of the unambiguous alphabet, normalized from what people type', () => {
  assert.equal(ENROLL_CODE_LENGTH, 6);
  assert.doesNotMatch(ENROLL_CODE_ALPHABET, /[01258BGILOSZ]/, 'no look-alike characters');
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const code = generateEnrollCode();
    assert.match(code, new RegExp(`^[${ENROLL_CODE_ALPHABET}]{6}$`));
    seen.add(code);
  }
  assert.ok(seen.size > 490, `random codes collide too often: ${seen.size} distinct of 500`);
  let k = 0;
  assert.equal(generateEnrollCode(() => k++ % ENROLL_CODE_ALPHABET.length), ENROLL_CODE_ALPHABET.slice(0, 6));
  assert.throws(() => generateEnrollCode(() => ENROLL_CODE_ALPHABET.length), RangeError);
  assert.equal(normalizeEnrollCode(' acd-347 '), 'ACD347');
  assert.equal(normalizeEnrollCode('ACD 347'), 'ACD347');
  for (const bad of ['ACD34', 'ACD3470', 'ACD340', 'OOOOOO', '', 42, null, 'x'.repeat(100), 'ACD\n347']) {
    assert.throws(() => normalizeEnrollCode(bad), (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_INVALID_INPUT', JSON.stringify(bad));
  }
});

test('a seat with more LUNs: each attached with sanhook as drives 0x81, 0x82 before LUN 0 boots as 0x80', () => {
  const l = lines(sanBootScript({ ...seat, extraLuns: [1, 2] }));
  const hook1 = l.indexOf('sanhook --drive 0x81 iscsi:192.168.1.10::3260:1:iqn.2026-11.local.lanboot:seat.pc-7 || goto failed');
  const hook2 = l.indexOf('sanhook --drive 0x82 iscsi:192.168.1.10::3260:2:iqn.2026-11.local.lanboot:seat.pc-7 || goto failed');
  const boot = l.indexOf('sanboot --drive 0x80 iscsi:192.168.1.10::3260:0:iqn.2026-11.local.lanboot:seat.pc-7 || goto failed');
  assert.ok(hook1 > 0 && hook2 > hook1 && boot > hook2, l.join('\n'));
  // The credentials are set before the first login (the first sanhook).
  assert.ok(l.findIndex((x) => x.startsWith('set password ')) < hook1);
  // Without extra LUNs the script is what it always was.
  assert.equal(sanBootScript({ ...seat, extraLuns: [] }), sanBootScript(seat));
  for (const bad of [[0], [2, 1], [1, 1], [16], [1.5], Array.from({ length: 16 }, (_, i) => i + 1)]) {
    assert.throws(() => sanBootScript({ ...seat, extraLuns: bad }), (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_BOOT_SCRIPT_UNSAFE', JSON.stringify(bad));
  }
});
