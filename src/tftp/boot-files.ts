// Serving named boot files from anywhere on disk, through the server's virtual-file hook.
//
// Debian's `ipxe` package installs /usr/lib/ipxe/ipxe.efi as a symlink to /boot/ipxe.efi. With
// /usr/lib/ipxe as the TFTP root, the server's root check (no symlink may lead outside) would
// refuse it, rightly: the root check is for names a client chooses. Here the supervisor names
// each file itself (a fixed allow-list from trusted configuration), so following links is fine.
import fs from 'node:fs/promises';
import { LanbootError } from '../log/errors.js';
import type { VirtualFileProvider } from './server.js';

/** The iPXE binaries of Debian's `ipxe` package (see docs/tftp.md), by the name clients ask for. */
export const DEBIAN_IPXE_BOOT_FILES: Readonly<Record<string, string>> = {
  'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe',
  'ipxe.efi': '/usr/lib/ipxe/ipxe.efi',
  'snponly.efi': '/usr/lib/ipxe/snponly.efi',
};

/** Boot files are small (iPXE: 75 KB to 1 MB); anything far bigger is a configuration mistake. */
export const MAX_BOOT_FILE_BYTES = 16 * 1024 * 1024;

interface CachedFile {
  mtimeMs: number;
  size: number;
  bytes: Buffer;
}

/**
 * A VirtualFileProvider for a fixed map { requested name -> absolute path }. Names are matched
 * exactly (case as given, after the server's normalization, so "/ipxe.efi" matches "ipxe.efi").
 * Each file is read once and kept until its mtime or size changes (a package upgrade).
 * A name in the map whose file is missing or too big fails the request (ERROR 0 and a log line
 * from the server) instead of falling through to the root: a broken install should be loud.
 */
export function fileMapProvider(files: Readonly<Record<string, string>>, maxBytes = MAX_BOOT_FILE_BYTES): VirtualFileProvider {
  const map = new Map(Object.entries(files));
  const cache = new Map<string, CachedFile>();
  return async ({ filename }) => {
    const source = map.get(filename);
    if (source === undefined) return undefined;
    const stat = await fs.stat(source);
    if (!stat.isFile()) throw new LanbootError('LANBOOT_IO_FAILED', `boot file ${source} is not a regular file`);
    if (stat.size > maxBytes) {
      throw new LanbootError('LANBOOT_IO_FAILED', `boot file ${source} is ${stat.size} bytes, over ${maxBytes}`);
    }
    const cached = cache.get(source);
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.bytes;
    const bytes = await fs.readFile(source);
    if (bytes.length > maxBytes) {
      throw new LanbootError('LANBOOT_IO_FAILED', `boot file ${source} grew over ${maxBytes} bytes`);
    }
    cache.set(source, { mtimeMs: stat.mtimeMs, size: bytes.length, bytes });
    return bytes;
  };
}
