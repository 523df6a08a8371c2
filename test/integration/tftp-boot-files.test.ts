// Named boot files served through the virtual-file hook (src/tftp/boot-files.ts): Debian's
// /usr/lib/ipxe/ipxe.efi is a symlink to /boot, which the root check would refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TftpServer } from '../../src/tftp/server.js';
import { tftpGet, TftpClientError } from '../tools/tftp-client.js';
import { DEBIAN_IPXE_BOOT_FILES, fileMapProvider } from '../../src/tftp/boot-files.js';

const HOST = '127.0.0.1';

function curl(url: string, target: string): Promise<number> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--tftp-blksize', '1468', '-o', target, url], { timeout: 30_000 }, (error) =>
      resolve(error ? (typeof error.code === 'number' ? error.code : -1) : 0),
    );
  });
}

test('Debian iPXE binaries are served by name, symlinks included; other names fall through to the root', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-tftp-bootfiles-'));
  const root = path.join(base, 'root');
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, 'local.txt'), 'from the root');
  const server = new TftpServer({ root, host: HOST, port: 0, virtualFiles: fileMapProvider(DEBIAN_IPXE_BOOT_FILES) });
  await server.start();
  t.after(async () => {
    await server.stop();
    await fs.rm(base, { recursive: true, force: true });
  });
  const port = server.address().port;
  assert.ok((await fs.lstat('/usr/lib/ipxe/ipxe.efi')).isSymbolicLink(), 'the case this module exists for');
  for (const [name, source] of Object.entries(DEBIAN_IPXE_BOOT_FILES)) {
    const target = path.join(base, name);
    assert.equal(await curl(`tftp://${HOST}:${port}/${name}`, target), 0, name);
    assert.ok((await fs.readFile(target)).equals(await fs.readFile(source)), `${name} byte for byte`);
  }
  const slashed = await tftpGet({ host: HOST, port, filename: '/undionly.kpxe', options: [['blksize', '1468']] });
  assert.ok(slashed.data.equals(await fs.readFile('/usr/lib/ipxe/undionly.kpxe')));
  assert.equal((await tftpGet({ host: HOST, port, filename: 'local.txt' })).data.toString(), 'from the root');
  await assert.rejects(
    tftpGet({ host: HOST, port, filename: 'IPXE.EFI', timeoutMs: 500 }),
    (error: unknown) => error instanceof TftpClientError && error.tftpErrorCode === 1,
    'names match exactly; the root has no IPXE.EFI',
  );
});

test('a mapped file is re-read when it changes; a missing or oversized one fails loudly', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-tftp-bootfiles-'));
  const root = path.join(base, 'root');
  await fs.mkdir(root);
  const bootFile = path.join(base, 'boot.bin');
  const bigFile = path.join(base, 'big.bin');
  await fs.writeFile(bootFile, 'version 1');
  await fs.writeFile(bigFile, Buffer.alloc(2048));
  const server = new TftpServer({
    root,
    host: HOST,
    port: 0,
    virtualFiles: fileMapProvider({ 'boot.bin': bootFile, 'gone.bin': path.join(base, 'nope'), 'big.bin': bigFile }, 1024),
  });
  const events: Array<{ file: string; errorCode?: string }> = [];
  server.on('transfer', (event) => events.push(event));
  await server.start();
  t.after(async () => {
    await server.stop();
    await fs.rm(base, { recursive: true, force: true });
  });
  const port = server.address().port;
  assert.equal((await tftpGet({ host: HOST, port, filename: 'boot.bin' })).data.toString(), 'version 1');
  await fs.writeFile(bootFile, 'version 2, longer');
  const later = new Date(Date.now() + 5000);
  await fs.utimes(bootFile, later, later);
  assert.equal((await tftpGet({ host: HOST, port, filename: 'boot.bin' })).data.toString(), 'version 2, longer');
  for (const name of ['gone.bin', 'big.bin']) {
    await assert.rejects(
      tftpGet({ host: HOST, port, filename: name, timeoutMs: 500 }),
      (error: unknown) => error instanceof TftpClientError && error.tftpErrorCode === 0,
      name,
    );
  }
  assert.deepEqual(
    events.filter((event) => event.errorCode).map((event) => [event.file, event.errorCode]),
    [
      ['gone.bin', 'TFTP_INTERNAL'],
      ['big.bin', 'TFTP_INTERNAL'],
    ],
  );
});
