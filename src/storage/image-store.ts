// Golden image versions on disk. A version is written under a .partial name, fsynced with
// its sha256 computed on the way, made read-only, then renamed into place (rename(2) is
// atomic) and the directory fsynced: a reader never sees half a version, and a crash leaves
// only a .partial, removed at the next start.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import { validateName } from '../config/names.js';
import type { ImageRepository, ImageRow, ImageVersionRow, IsoRow } from '../db/images.js';
import type { DataLayout } from './layout.js';
import { BLOCK_SIZE, sha256OfFile } from './formats.js';

const PARTIAL_SUFFIX = '.partial';
/** ISO 9660 files live in DATA/images/<name>/iso/ (see docs/images.md). */
export const ISO_DIR = 'iso';
export const ISO_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.iso$/;
const VERSION_FILE = /^v([1-9]\d{0,8})\.img$/;

export interface ImportOptions {
  /** When known (Content-Length, file size): a stream that ends short is refused. */
  expectedBytes?: number | undefined;
  onProgress?: ((bytesWritten: number) => void) | undefined;
  /** Recorded with the version ("upload" when not given). */
  source?: string | undefined;
  /** Last check of the written file before it is published (e.g. its partition table). */
  verify?: ((partialPath: string, sha256: string) => Promise<void>) | undefined;
}

/** What a `write` callback may return: the sha256 of the file it wrote, when it read the
 *  file back and hashed it as it went (then the store does not read it again). */
export type WriteResult = void | { sha256: string };

export interface PublishOptions {
  /** Space the result will take, when known: refused up front if it cannot fit. */
  expectedBytes?: number | undefined;
  /** The disk size, when the result is sparse (expectedBytes is then its data). */
  diskBytes?: number | undefined;
  /** Bytes written so far (passed to `write`). */
  onProgress?: ((bytes: number) => void) | undefined;
  /** Bytes hashed so far while reading the result back. */
  onVerify?: ((bytesHashed: number) => void) | undefined;
  /** Stops the read-back (USB stick pulled, import cancelled). */
  signal?: AbortSignal | undefined;
  /** Last check before the rename (compare with the source); throwing publishes nothing. */
  verify?: ((partialPath: string, sha256: string) => Promise<void>) | undefined;
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

/** What other parts may follow: each golden version once it is published (the pre-warm). */
export interface ImageStoreEvents {
  version: [ImageVersionRow];
}

export class ImageStore {
  readonly events = new EventEmitter<ImageStoreEvents>();

  constructor(
    private readonly layout: DataLayout,
    private readonly images: ImageRepository,
  ) {}

  /** Where uploads of non-raw formats wait for conversion. */
  get stagingDir(): string {
    return this.layout.stagingDir;
  }

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
      const isoDir = path.join(dir, ISO_DIR);
      const isoEntries = await fsp.readdir(isoDir).catch(() => [] as string[]);
      for (const entry of isoEntries) {
        const file = path.join(isoDir, entry);
        if (entry.endsWith(PARTIAL_SUFFIX)) {
          await fsp.rm(file, { force: true });
          report.removedPartials.push(file);
        } else if (ISO_FILE.test(entry) && !recorded.has(file)) {
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

  /** Refuses up front what cannot fit, rather than fail after copying most of it. */
  async checkFreeSpace(imageName: string, neededBytes: number, diskBytes?: number): Promise<void> {
    const dir = this.layout.imageDir(imageName);
    await fsp.mkdir(dir, { recursive: true });
    const fsStat = await fsp.statfs(dir);
    const available = fsStat.bavail * fsStat.bsize;
    // A sparse disk needs only its data now, but one larger than the whole file system could
    // never be filled (nor its seats' deltas): refused as well.
    if (diskBytes !== undefined && diskBytes > fsStat.blocks * fsStat.bsize) neededBytes = Math.max(neededBytes, diskBytes);
    if (neededBytes > available) {
      throw new LanbootError('LANBOOT_NO_SPACE', `image ${imageName}: not enough space in ${this.layout.imagesDir}: the image needs ${neededBytes} bytes, ${available} are free`, {
        image: imageName,
      });
    }
  }

  /**
   * Publishes a new version of `imageName` whose bytes `write` puts into a fresh (empty,
   * 0600) file at `partialPath`. Afterwards the file is checked (non-empty, whole 512-byte
   * blocks), its sha256 computed by reading it back (what is recorded is what is on disk;
   * a `write` that read its result back and hashed it while writing returns that sha256),
   * fsynced, made read-only, renamed into place atomically, the directory fsynced, and the
   * version recorded as the image's current version. If `write` throws, or any step fails,
   * the partial is removed and nothing is published.
   */
  async publishWritten(
    imageName: string,
    write: (partialPath: string, onProgress?: (bytes: number) => void) => Promise<WriteResult>,
    meta: { source: string } & PublishOptions,
  ): Promise<ImageVersionRow> {
    validateName(imageName, 'image');
    if (meta.expectedBytes !== undefined) await this.checkFreeSpace(imageName, meta.expectedBytes, meta.diskBytes);
    return this.publishTail(imageName, 'version', (partial) => write(partial, meta.onProgress), meta.source, meta) as Promise<ImageVersionRow>;
  }

  /** Publishes an ISO 9660 file written by `write` as DATA/images/<name>/iso/<fileName>. */
  async publishIso(
    imageName: string,
    fileName: string,
    write: (partialPath: string) => Promise<WriteResult>,
    meta: { source: string } & PublishOptions,
  ): Promise<IsoRow> {
    validateName(imageName, 'image');
    if (!ISO_FILE.test(fileName)) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `ISO file name '${fileName}': expected letters, digits, '.', '_' or '-' ending in .iso (at most 100 characters)`);
    }
    if (meta.expectedBytes !== undefined) await this.checkFreeSpace(imageName, meta.expectedBytes);
    return this.publishTail(imageName, { iso: fileName }, write, meta.source, meta) as Promise<IsoRow>;
  }

  private async publishTail(
    imageName: string,
    kind: 'version' | { iso: string },
    write: (partialPath: string) => Promise<WriteResult>,
    source: string,
    options: PublishOptions,
  ): Promise<ImageVersionRow | IsoRow> {
    const imageDir = this.layout.imageDir(imageName);
    const dir = kind === 'version' ? imageDir : path.join(imageDir, ISO_DIR);
    await fsp.mkdir(dir, { recursive: true });
    const partial = path.join(dir, `import-${process.pid}-${crypto.randomBytes(6).toString('hex')}.img${PARTIAL_SUFFIX}`);
    let finalPath: string | undefined;
    // Created here (exclusive, private) so `write` never races another writer for the name.
    await (await fsp.open(partial, 'wx', 0o600)).close();
    try {
      const written = await write(partial);
      const handle = await fsp.open(partial, 'r+');
      let sizeBytes: number;
      let sha256: string;
      try {
        sizeBytes = (await handle.stat()).size;
        if (sizeBytes === 0 || sizeBytes % BLOCK_SIZE !== 0) {
          throw new LanbootError(
            'LANBOOT_IMAGE_INVALID',
            `image ${imageName}: a disk image must be a non-empty multiple of ${BLOCK_SIZE} bytes, this one has ${sizeBytes}`,
            { image: imageName },
          );
        }
        // The flush to disk runs while the file is read back (pages under writeback read fine).
        const flushing = handle.datasync();
        flushing.catch(() => undefined);
        sha256 = written?.sha256 ?? (await sha256OfFile(partial, sizeBytes, options.signal, options.onVerify));
        await flushing;
        await options.verify?.(partial, sha256);
        await handle.sync();
        await handle.chmod(0o444);
      } finally {
        await handle.close();
      }
      if (kind === 'version') {
        // Synchronous from here to the DB insert: no other import can take the same number.
        const number = this.nextVersionNumber(imageName);
        finalPath = this.layout.versionFile(imageName, number);
        fs.renameSync(partial, finalPath);
        await fsyncDirectory(dir);
        const row = this.images.addVersion({ imageName, number, filePath: finalPath, sizeBytes, sha256, source });
        this.events.emit('version', row);
        return row;
      }
      finalPath = path.join(dir, kind.iso);
      const previous = this.images.listIsos(imageName).find((r) => r.fileName === kind.iso);
      // Same name again: the new file replaces the old one atomically (rename over it).
      fs.renameSync(partial, finalPath);
      await fsyncDirectory(dir);
      const row = this.images.addIso({ imageName, fileName: kind.iso, filePath: finalPath, sizeBytes, sha256, source });
      if (previous && previous.filePath !== finalPath) await fsp.rm(previous.filePath, { force: true });
      return row;
    } catch (error) {
      await fsp.rm(partial, { force: true });
      if (kind === 'version' && finalPath && !this.images.allVersionPaths().has(finalPath)) await fsp.rm(finalPath, { force: true });
      if (error instanceof LanbootError) throw error;
      throw new LanbootError('LANBOOT_IO_FAILED', `image ${imageName}: import failed: ${(error as Error).message}`, { image: imageName }, { cause: error });
    }
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
    const write = async (partial: string) => {
      const handle = await fsp.open(partial, 'r+');
      let written = 0;
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
      } finally {
        await handle.close();
      }
      if (expectedBytes !== undefined && written !== expectedBytes) {
        throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${imageName}: the upload ended after ${written} of ${expectedBytes} bytes`);
      }
      if (written === 0 || written % BLOCK_SIZE !== 0) {
        throw new LanbootError(
          'LANBOOT_IMAGE_INVALID',
          `image ${imageName}: a raw disk image must be a non-empty multiple of ${BLOCK_SIZE} bytes, this one has ${written}`,
        );
      }
    };
    return this.publishWritten(imageName, write, {
      source: options.source ?? 'upload',
      ...(expectedBytes !== undefined ? { expectedBytes } : {}),
      ...(options.verify ? { verify: options.verify } : {}),
    });
  }

  private requireVersion(imageName: string, number: number): { image: ImageRow; version: ImageVersionRow } {
    validateName(imageName, 'image');
    const image = this.images.findImage(imageName);
    if (!image) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist`, { image: imageName });
    const version = Number.isSafeInteger(number) && number >= 1 ? this.images.getVersion(image.id, number) : undefined;
    if (!version) {
      const known = this.images.listVersions(imageName).map((v) => `v${v.number}`);
      throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' has no version ${number} (it has ${known.join(', ') || 'none'})`, { image: imageName });
    }
    return { image, version };
  }

  /** Makes `number` (any existing version, older or newer) the current version: new seats
   *  start on it and resets move seats to it. Returns the version. */
  rollback(imageName: string, number: number): ImageVersionRow {
    const { image, version } = this.requireVersion(imageName, number);
    this.images.setCurrentVersion(image.id, version.number);
    return version;
  }

  /** Deletes one version (row, then file). Refused for the current version and for a
   *  version any seat uses. */
  async deleteVersion(imageName: string, number: number): Promise<ImageVersionRow> {
    const { image, version } = this.requireVersion(imageName, number);
    const current = this.images.currentVersion(imageName);
    if (current?.number === version.number) {
      throw new LanbootError('LANBOOT_VERSION_IN_USE', `image ${imageName} v${number} is the current version; roll back to another version first (lanboot image rollback ${imageName} --version N)`, {
        image: imageName,
      });
    }
    const seats = this.images.seatsUsingVersion(image.id, version.number);
    if (seats.length > 0) {
      throw new LanbootError('LANBOOT_VERSION_IN_USE', `image ${imageName} v${number} is used by seat${seats.length > 1 ? 's' : ''} ${seats.join(', ')}; reset or remove ${seats.length > 1 ? 'them' : 'it'} first`, {
        image: imageName,
        seats,
      });
    }
    try {
      this.images.deleteVersionRow(image.id, version.number);
    } catch (error) {
      // A seat took the version between the check and the delete: the FK refuses.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new LanbootError('LANBOOT_VERSION_IN_USE', `image ${imageName} v${number} is used by a seat`, { image: imageName }, { cause: error });
      }
      throw error;
    }
    // File after row: a crash in between leaves an unrecorded file that cleanup() removes.
    await fsp.rm(version.filePath, { force: true });
    return version;
  }

  /** Deletes every version that is neither current nor used by a seat; returns them. */
  async prune(imageName: string): Promise<ImageVersionRow[]> {
    validateName(imageName, 'image');
    const image = this.images.findImage(imageName);
    if (!image) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist`, { image: imageName });
    const current = this.images.currentVersion(imageName)?.number;
    const removed: ImageVersionRow[] = [];
    for (const version of this.images.listVersions(imageName)) {
      if (version.number === current || this.images.seatsUsingVersion(image.id, version.number).length > 0) continue;
      try {
        removed.push(await this.deleteVersion(imageName, version.number));
      } catch (error) {
        if (error instanceof LanbootError && error.code === 'LANBOOT_VERSION_IN_USE') continue;
        throw error;
      }
    }
    return removed;
  }
}
