// TFTP path normalization (pure) and the root check against a real directory with symlinks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PathRefusedError, isInsideRoot, normalizeRequestPath, resolveInsideRoot } from '../../src/tftp/paths.js';

function refused(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof PathRefusedError && error.code === code);
}

test('names are split into root-relative segments; case is kept', () => {
  assert.deepEqual(normalizeRequestPath('undionly.kpxe'), ['undionly.kpxe']);
  assert.deepEqual(normalizeRequestPath('/undionly.kpxe'), ['undionly.kpxe']);
  assert.deepEqual(normalizeRequestPath('//efi/./x64//IPXE.EFI'), ['efi', 'x64', 'IPXE.EFI']);
  assert.deepEqual(normalizeRequestPath('..foo'), ['..foo']);
  assert.deepEqual(normalizeRequestPath('/etc/passwd'), ['etc', 'passwd'], 'absolute names stay under the root');
});

test('parent segments, backslashes, NUL and control characters are refused', () => {
  refused(() => normalizeRequestPath('../etc/passwd'), 'TFTP_PATH_PARENT');
  refused(() => normalizeRequestPath('a/../../b'), 'TFTP_PATH_PARENT');
  refused(() => normalizeRequestPath('/..'), 'TFTP_PATH_PARENT');
  refused(() => normalizeRequestPath('a/..'), 'TFTP_PATH_PARENT');
  refused(() => normalizeRequestPath('..\\..\\windows'), 'TFTP_PATH_BACKSLASH');
  refused(() => normalizeRequestPath('boot\\x'), 'TFTP_PATH_BACKSLASH');
  refused(() => normalizeRequestPath('a\0b'), 'TFTP_PATH_NUL');
  refused(() => normalizeRequestPath('a\nb'), 'TFTP_PATH_CONTROL');
  refused(() => normalizeRequestPath('/'), 'TFTP_PATH_EMPTY');
  refused(() => normalizeRequestPath('./.'), 'TFTP_PATH_EMPTY');
});

test('isInsideRoot is not fooled by a shared prefix', () => {
  assert.equal(isInsideRoot('/srv/tftp', '/srv/tftp/a'), true);
  assert.equal(isInsideRoot('/srv/tftp', '/srv/tftp'), true);
  assert.equal(isInsideRoot('/srv/tftp', '/srv/tftp2/a'), false);
  assert.equal(isInsideRoot('/srv/tftp', '/srv'), false);
  assert.equal(isInsideRoot('/srv/tftp', '/srv/tftp/..foo'), true);
});

test('symlinks are followed only while they stay inside the root', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-tftp-paths-'));
  t.after(() => fs.rm(base, { recursive: true, force: true }));
  const root = path.join(base, 'root');
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  await fs.writeFile(path.join(root, 'sub', 'inside.bin'), 'in');
  await fs.writeFile(path.join(base, 'secret'), 'out');
  await fs.symlink(path.join(base, 'secret'), path.join(root, 'escape'));
  await fs.symlink('../secret', path.join(root, 'relative-escape'));
  await fs.symlink(base, path.join(root, 'dir-escape'));
  await fs.symlink('sub/inside.bin', path.join(root, 'alias'));
  const realRoot = await fs.realpath(root);
  assert.equal(await resolveInsideRoot(realRoot, ['alias']), path.join(realRoot, 'sub', 'inside.bin'));
  assert.equal(await resolveInsideRoot(realRoot, ['sub', 'inside.bin']), path.join(realRoot, 'sub', 'inside.bin'));
  for (const name of ['escape', 'relative-escape']) {
    await assert.rejects(resolveInsideRoot(realRoot, [name]), (e: unknown) => e instanceof PathRefusedError && e.code === 'TFTP_PATH_OUTSIDE_ROOT');
  }
  await assert.rejects(
    resolveInsideRoot(realRoot, ['dir-escape', 'secret']),
    (e: unknown) => e instanceof PathRefusedError && e.code === 'TFTP_PATH_OUTSIDE_ROOT',
  );
  await assert.rejects(resolveInsideRoot(realRoot, ['missing']), (e: unknown) => e instanceof PathRefusedError && e.code === 'TFTP_PATH_NOT_FOUND');
});
