// Golden image versions on disk. A version is written under a .partial name, fsynced with
// its sha256 computed on the way, made read-only, then renamed into place (rename(2) is
// atomic) and the directory fsynced: a reader never sees half a version, and a crash leaves
// only a .partial, removed at the next start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import { validateName } from '../config/names.js';
import type { ImageRepository, ImageVersionRow } from '../db/images.js';
import type { DataLayout } from './layout.js';

/** iSCSI serves 512-byte logical blocks (BIOS INT13 needs them): a golden file must be a
 *  whole number of them. */
export const BLOCK_SIZE = 512;

const PARTIAL_SUFFIX = '.partial';
const VERSION_FILE = /^v([1-9]\d{0,8})\.img$/;

export interface ImportOptions {
  /** When known (Content-Length, file size): a stream that ends short is refused. */
  expectedBytes?: number | undefined;
  onProgress?: ((bytesWritten: number) => void) | undefined;
}

export interface CleanupReport {
  removedPartials: string[];
  removedUnrecorded: string[];
}

/** Bytes gathered before one write(2) to the version file. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/** What is left of `buffers` after a writev() that wrote `bytes` of them (a short write). */
function dropWritten(buffers: Uint8Array[], bytes: number): Uint8Array[] {
  let skip = bytes;
  let index = 0;
  while (index < buffers.length && skip >= buffers[index]!.byteLength) skip -= buffers[index++]!.byteLength;
  const rest = buffers.slice(index);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class ImageStore {
  constructor(
    private readonly layout: DataLayout,
    private readonly images: ImageRepository,
  ) {}

  /** Removes what a crash can leave behind: .partial files, and version files that were
   *  renamed into place but never recorded (the import never reported success). */
  async cleanup(): Promise<CleanupReport> {
    const report: CleanupReport = { removedPartials: [], removedUnrecorded: [] };
    await fsp.mkdir(this.layout.imagesDir, { recursive: true });
    const recorded = this.images.allVersionPaths();
    for (const imageName of await fsp.readdir(this.layout.imagesDir)) {
      const dir = this.layout.imageDir(imageName);
      if (!(await fsp.stat(dir)).isDirectory()) continue;
      for (const entry of await fsp.readdir(dir)) {
        const file = path.join(dir, entry);
        if (entry.endsWith(PARTIAL_SUFFIX)) {
          await fsp.rm(file, { force: true });
          report.removedPartials.push(file);
        } else if (VERSION_FILE.test(entry) && !recorded.has(file)) {
          await fsp.rm(file, { force: true });
          report.removedUnrecorded.push(file);
        }
      }
    }
    return report;
  }

  /** Next free version number: above both the recorded ones and any file on disk. */
  private nextVersionNumber(imageName: string): number {
    let highest = this.images.maxVersionNumber(imageName);
    const dir = this.layout.imageDir(imageName);
    for (const entry of fs.readdirSync(dir)) {
      const match = VERSION_FILE.exec(entry);
      if (match) highest = Math.max(highest, Number(match[1]));
    }
    return highest + 1;
  }

  /** Writes a new version of `imageName` from a raw disk image stream. */
  async importVersion(imageName: string, source: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<ImageVersionRow> {
    validateName(imageName, 'image');
    const { expectedBytes, onProgress } = options;
    if (expectedBytes !== undefined && (expectedBytes <= 0 || expectedBytes % BLOCK_SIZE !== 0)) {
      throw new LanbootError(
        'LANBOOT_IMAGE_INVALID',
        `image ${imageName}: a raw disk image must be a non-empty multiple of ${BLOCK_SIZE} bytes, this one has ${expectedBytes}`,
      );
    }
    const dir = this.layout.imageDir(imageName);
    await fsp.mkdir(dir, { recursive: true });
    if (expectedBytes !== undefined) {
      // Refuse up front what cannot fit, rather than fail after copying most of it.
      const fsStat = await fsp.statfs(dir);
      const available = fsStat.bavail * fsStat.bsize;
      if (expectedBytes > available) {
        throw new LanbootError('LANBOOT_IO_FAILED', `image ${imageName}: not enough space in ${this.layout.imagesDir}: the image needs ${expectedBytes} bytes, ${available} are free`);
      }
    }
    const partial = path.join(dir, `import-${process.pid}-${crypto.randomBytes(6).toString('hex')}.img${PARTIAL_SUFFIX}`);
    const hash = crypto.createHash('sha256');
    let written = 0;
    let finalPath: string | undefined;
    const handle = await fsp.open(partial, 'wx', 0o600);
    try {
      try {
        // Chunks from a socket are 16-64 KiB: gather them and write a few MiB per syscall.
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          let buffers = pending;
          pending = [];
          pendingBytes = 0;
          while (buffers.length > 0) {
            const { bytesWritten } = await handle.writev(buffers);
            buffers = dropWritten(buffers, bytesWritten);
          }
        };
        for await (const chunk of source) {
          if (expectedBytes !== undefined && written + chunk.byteLength > expectedBytes) {
            throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${imageName}: received more than the announced ${expectedBytes} bytes`);
          }
          hash.update(chunk);
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
          written += chunk.byteLength;
          if (pendingBytes >= WRITE_BATCH_BYTES || pending.length >= 512) {
            await flush();
            onProgress?.(written);
          }
        }
        await flush();
        onProgress?.(written);
        if (expectedBytes !== undefined && written !== expectedBytes) {
          throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${imageName}: the upload ended after ${written} of ${expectedBytes} bytes`);
        }
        if (written === 0 || written % BLOCK_SIZE !== 0) {
          throw new LanbootError(
            'LANBOOT_IMAGE_INVALID',
            `image ${imageName}: a raw disk image must be a non-empty multiple of ${BLOCK_SIZE} bytes, this one has ${written}`,
          );
        }
        await handle.sync();
        await handle.chmod(0o444);
      } finally {
        await handle.close();
      }
      // Synchronous from here to the DB insert: no other import can take the same number.
      const number = this.nextVersionNumber(imageName);
      finalPath = this.layout.versionFile(imageName, number);
      fs.renameSync(partial, finalPath);
      await fsyncDirectory(dir);
      return this.images.addVersion({ imageName, number, filePath: finalPath, sizeBytes: written, sha256: hash.digest('hex') });
    } catch (error) {
      await fsp.rm(partial, { force: true });
      if (finalPath && !this.images.allVersionPaths().has(finalPath)) await fsp.rm(finalPath, { force: true });
      if (error instanceof LanbootError) throw error;
      throw new LanbootError('LANBOOT_IO_FAILED', `image ${imageName}: import failed: ${(error as Error).message}`, { image: imageName }, { cause: error });
    }
  }
}
