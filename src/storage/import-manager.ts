// Import jobs: a disk image file (on this box, on a USB stick, or a staged upload) becomes a
// new golden version, or an ISO file kept with the image. Each job is a row in `imports`
// (written before the work starts, settled after), so the UI and `lanboot image imports`
// show progress and history, and a crash mid-import shows as a failed job at the next start.
//
// Steps: probe the format from the content, verify the source (qemu-img check / partition
// table / ISO size), check free space, then either copy (raw and ISO: one native pass that
// writes sparse, reads each chunk back, compares it with the source and hashes it) or
// convert (qemu-img, then the result read back for its sha256 and qemu-img compare with the
// source), publish atomically (ImageStore). See docs/images.md.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import type { ImageStore } from './image-store.js';
import type { DataLayout } from './layout.js';
import type { VerifiedCopy } from '../native/index.js';
import { compareWithSource, convertToRaw, copyRaw, formatLabel, probeSource, verifySource, type SourceInfo } from './formats.js';

export type ImportState = 'running' | 'done' | 'failed';
export type ImportPhase = 'probing' | 'checking' | 'copying' | 'converting' | 'verifying' | 'publishing';

export interface ImportJob {
  id: number;
  image: string;
  /** "file /path", "usb sdb1 dir/x.qcow2", "upload". */
  source: string;
  /** qemu-img format name (raw, qcow2, vpc, vhdx, vmdk) or iso; null until probed. */
  format: string | null;
  state: ImportState;
  /** While running: what it is doing now. */
  phase: ImportPhase | null;
  /** Bytes of the disk copied/converted so far, and the disk size (null until known). */
  bytesDone: number;
  bytesTotal: number | null;
  /** While verifying: bytes of the result read back and hashed. */
  bytesVerified: number;
  /** While running: average bytes per second since the copy began, and the time left. */
  rateBytesPerSecond: number | null;
  secondsLeft: number | null;
  error: { code: string; message: string } | null;
  /** Published version number (disk images) or ISO file name. */
  version: number | null;
  isoFile: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ImportRequest {
  image: string;
  /** Absolute path of the source on this box (file or block device). */
  path: string;
  /** Label recorded with the job and the version; default "file <path>". */
  source?: string;
  /** ISO sources: the stored file name (default: the source's base name). */
  isoName?: string;
  /** USB imports: the device id, so a removal aborts the job. */
  usbDevice?: string;
  /** Staged uploads: remove the source when the job ends. */
  removeSourceAfter?: boolean;
}

interface ImportDbRow {
  id: number;
  image_name: string;
  source: string;
  format: string | null;
  state: ImportState;
  bytes_done: number;
  bytes_total: number | null;
  error_code: string | null;
  error_message: string | null;
  version: number | null;
  iso_file: string | null;
  started_at: string;
  finished_at: string | null;
}

interface Live {
  phase: ImportPhase;
  bytesDone: number;
  bytesTotal: number | null;
  bytesVerified: number;
  copyStartedMs: number | null;
  controller: AbortController;
  usbDevice: string | undefined;
  done: Promise<ImportJob>;
  lastDbWriteMs: number;
}

const MAX_LIST = 500;
/** Progress is written to the database at most this often (the UI reads it from memory). */
const DB_PROGRESS_INTERVAL_MS = 1000;

function isoFileName(sourcePath: string, wanted?: string): string {
  if (wanted !== undefined) return wanted;
  const base = path
    .basename(sourcePath)
    .replace(/\.iso$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 90);
  return `${base || 'image'}.iso`;
}

export class ImportManager {
  private readonly live = new Map<number, Live>();

  constructor(
    /** verifiedCopy: the addon's raw-import copy (the supervisor hands it in). */
    private readonly options: { db: Db; store: ImageStore; layout: DataLayout; logger: Logger; verifiedCopy: VerifiedCopy },
  ) {}

  /** At start-up: jobs left running by a crash are failed (their partials are removed by
   *  ImageStore.cleanup()), and staged uploads are removed. Returns the failed job ids. */
  async recover(): Promise<number[]> {
    const { db } = this.options;
    const stale = (db.prepare("SELECT id FROM imports WHERE state = 'running'").all() as { id: number }[]).map((r) => r.id);
    db.prepare(
      `UPDATE imports SET state = 'failed', error_code = 'LANBOOT_IMPORT_INTERRUPTED', error_message = 'interrupted: lanboot restarted during the import',
         finished_at = ? WHERE state = 'running'`,
    ).run(new Date().toISOString());
    await fsp.rm(this.options.layout.stagingDir, { recursive: true, force: true });
    return stale;
  }

  /** Starts an import job; resolves once the job is recorded (the work goes on). */
  async start(request: ImportRequest): Promise<ImportJob> {
    const image = validateName(request.image, 'image', 'image');
    if (typeof request.path !== 'string' || !path.isAbsolute(request.path) || request.path.length > 4096 || request.path.includes('\0')) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'import: path must be an absolute path on this box');
    }
    if (request.isoName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.iso$/.test(request.isoName)) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `import: ISO file name '${String(request.isoName).slice(0, 100)}' must be letters, digits, '.', '_' or '-' ending in .iso`);
    }
    // Fail fast on a path that cannot be read, before a job row exists.
    const stat = await fsp.stat(request.path).catch((error: NodeJS.ErrnoException) => {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `import: cannot read ${request.path}: ${error.code ?? error.message}`);
    });
    if (!stat.isFile() && !stat.isBlockDevice()) throw new LanbootError('LANBOOT_INVALID_INPUT', `import: ${request.path} is not a file`);
    const source = (request.source ?? `file ${request.path}`).slice(0, 1000);
    const now = new Date().toISOString();
    const id = Number(
      this.options.db.prepare("INSERT INTO imports (image_name, source, state, started_at) VALUES (?, ?, 'running', ?)").run(image, source, now).lastInsertRowid,
    );
    const live: Live = {
      phase: 'probing',
      bytesDone: 0,
      bytesTotal: null,
      bytesVerified: 0,
      copyStartedMs: null,
      controller: new AbortController(),
      usbDevice: request.usbDevice,
      done: Promise.resolve(undefined as unknown as ImportJob),
      lastDbWriteMs: 0,
    };
    this.live.set(id, live);
    live.done = this.run(id, image, source, request, live);
    return this.get(id);
  }

  /** Resolves with the finished job (done or failed; never rejects). */
  async wait(id: number): Promise<ImportJob> {
    const live = this.live.get(id);
    if (live) return live.done;
    return this.get(id);
  }

  get(id: number): ImportJob {
    const row = this.options.db.prepare('SELECT * FROM imports WHERE id = ?').get(id) as ImportDbRow | undefined;
    if (!row) throw new LanbootError('LANBOOT_IMPORT_NOT_FOUND', `import ${id} does not exist`);
    return this.view(row);
  }

  /** History, newest first. */
  list(limit = 50, image?: string): ImportJob[] {
    const bounded = Math.max(1, Math.min(MAX_LIST, Math.floor(limit)));
    const rows = (
      image === undefined
        ? this.options.db.prepare('SELECT * FROM imports ORDER BY id DESC LIMIT ?').all(bounded)
        : this.options.db.prepare('SELECT * FROM imports WHERE image_name = ? ORDER BY id DESC LIMIT ?').all(image, bounded)
    ) as ImportDbRow[];
    return rows.map((r) => this.view(r));
  }

  /** Jobs still running. */
  running(): ImportJob[] {
    return [...this.live.keys()].map((id) => this.get(id));
  }

  /** Aborts the running jobs reading from a USB device (it was removed); returns their ids. */
  abortUsb(device: string, reason: LanbootError): number[] {
    const ids: number[] = [];
    for (const [id, live] of this.live) {
      if (live.usbDevice === device) {
        live.controller.abort(reason);
        ids.push(id);
      }
    }
    return ids;
  }

  /** Cancels a running job (the CLI on Ctrl-C); resolves with the settled job. */
  async cancel(id: number): Promise<ImportJob> {
    const live = this.live.get(id);
    if (!live) {
      const job = this.get(id);
      throw new LanbootError('LANBOOT_INVALID_INPUT', `import ${id} is not running (it is ${job.state})`);
    }
    live.controller.abort(new LanbootError('LANBOOT_IMPORT_INTERRUPTED', 'cancelled by the user'));
    return live.done;
  }

  /** Whether a job is reading from this USB device. */
  usbBusy(device: string): boolean {
    return [...this.live.values()].some((l) => l.usbDevice === device);
  }

  /** Aborts every running job and waits for them to settle (supervisor stop). */
  async stop(): Promise<void> {
    const jobs = [...this.live.values()];
    for (const live of jobs) live.controller.abort(new LanbootError('LANBOOT_IMPORT_INTERRUPTED', 'interrupted: lanboot is stopping'));
    await Promise.all(jobs.map((l) => l.done));
  }

  private view(row: ImportDbRow): ImportJob {
    const live = this.live.get(row.id);
    let rate: number | null = null;
    let secondsLeft: number | null = null;
    const bytesDone = live ? live.bytesDone : row.bytes_done;
    const bytesTotal = live ? live.bytesTotal : row.bytes_total;
    if (live?.copyStartedMs != null && live.bytesDone > 0) {
      const seconds = Math.max(0.001, (Date.now() - live.copyStartedMs) / 1000);
      rate = Math.round(live.bytesDone / seconds);
      if (bytesTotal !== null && rate > 0) secondsLeft = Math.max(0, Math.round((bytesTotal - live.bytesDone) / rate));
    }
    return {
      id: row.id,
      image: row.image_name,
      source: row.source,
      format: row.format,
      state: row.state,
      phase: live ? live.phase : null,
      bytesDone,
      bytesTotal,
      bytesVerified: live ? live.bytesVerified : row.state === 'done' ? (row.bytes_total ?? 0) : 0,
      rateBytesPerSecond: rate,
      secondsLeft,
      error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
      version: row.version,
      isoFile: row.iso_file,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
    };
  }

  private progress(id: number, live: Live, bytes: number): void {
    live.bytesDone = Math.max(0, Math.min(bytes, live.bytesTotal ?? bytes));
    const now = Date.now();
    if (now - live.lastDbWriteMs >= DB_PROGRESS_INTERVAL_MS) {
      live.lastDbWriteMs = now;
      this.options.db.prepare('UPDATE imports SET bytes_done = ? WHERE id = ?').run(live.bytesDone, id);
    }
  }

  private async run(id: number, image: string, source: string, request: ImportRequest, live: Live): Promise<ImportJob> {
    const { db, store, logger } = this.options;
    const log = logger.child({ image, importId: id, source });
    const signal = live.controller.signal;
    const started = Date.now();
    log.info('image import started');
    try {
      live.phase = 'probing';
      const info: SourceInfo = await probeSource(request.path, signal);
      live.bytesTotal = info.virtualBytes;
      db.prepare('UPDATE imports SET format = ?, bytes_total = ? WHERE id = ?').run(info.format, info.virtualBytes, id);
      signal.throwIfAborted();
      live.phase = 'checking';
      await verifySource(info, signal);
      signal.throwIfAborted();
      const onProgress = (bytes: number) => this.progress(id, live, bytes);
      const onVerify = (bytes: number) => {
        live.phase = 'verifying';
        live.bytesVerified = bytes;
      };
      live.copyStartedMs = Date.now();
      if (info.format === 'iso') {
        const fileName = isoFileName(request.path, request.isoName);
        live.phase = 'copying';
        // copyRaw reads the copy back as it goes and returns its sha256.
        const iso = await store.publishIso(image, fileName, (partial) => copyRaw(this.options.verifiedCopy, info.path, partial, info.fileBytes, onProgress, signal), {
          source,
          expectedBytes: info.spaceBytes,
          onVerify,
          signal,
          verify: async () => {
            signal.throwIfAborted();
            live.phase = 'publishing';
          },
        });
        return this.finish(id, live, log, started, { isoFile: iso.fileName, sha256: iso.sha256 });
      }
      live.phase = info.format === 'raw' ? 'copying' : 'converting';
      const version = await store.publishWritten(
        image,
        async (partial) => {
          // Raw: one pass that copies, reads back, compares and hashes (the source, maybe a
          // USB stick, is read once). Converted: the store reads the result back for its hash.
          const written = info.format === 'raw' ? await copyRaw(this.options.verifiedCopy, info.path, partial, info.virtualBytes, onProgress, signal) : await convertToRaw(info, partial, onProgress, signal);
          signal.throwIfAborted();
          return written;
        },
        {
          source,
          // Free-space check: what the sparse result will take, not the disk size.
          expectedBytes: info.spaceBytes,
          diskBytes: info.virtualBytes,
          onVerify,
          signal,
          // Raw: compared chunk by chunk while copying; converted: qemu-img compare.
          verify: async (partial) => {
            signal.throwIfAborted();
            if (info.format !== 'raw') await compareWithSource(info, partial, signal);
            signal.throwIfAborted();
            live.phase = 'publishing';
          },
        },
      );
      return this.finish(id, live, log, started, { version: version.number, sha256: version.sha256, format: formatLabel(info.format) });
    } catch (caught) {
      // An abort reason (USB removed, stopping) is the real cause, whatever the read said.
      const reason = signal.aborted ? signal.reason : caught;
      const error =
        reason instanceof LanbootError
          ? reason
          : new LanbootError('LANBOOT_IO_FAILED', `image ${image}: import failed: ${(reason as Error)?.message ?? String(reason)}`, undefined, { cause: reason });
      db.prepare("UPDATE imports SET state = 'failed', error_code = ?, error_message = ?, bytes_done = ?, finished_at = ? WHERE id = ?").run(
        error.code,
        error.message.slice(0, 2000),
        live.bytesDone,
        new Date().toISOString(),
        id,
      );
      log.warn({ err: error, code: error.code }, 'image import failed');
      this.live.delete(id);
      return this.get(id);
    } finally {
      this.live.delete(id);
      if (request.removeSourceAfter) await fsp.rm(request.path, { force: true });
    }
  }

  private finish(
    id: number,
    live: Live,
    log: Logger,
    started: number,
    result: { version?: number; isoFile?: string; sha256: string; format?: string },
  ): ImportJob {
    this.options.db
      .prepare("UPDATE imports SET state = 'done', version = ?, iso_file = ?, bytes_done = bytes_total, finished_at = ? WHERE id = ?")
      .run(result.version ?? null, result.isoFile ?? null, new Date().toISOString(), id);
    log.info({ ...result, seconds: (Date.now() - started) / 1000, bytes: live.bytesTotal }, 'image import published');
    this.live.delete(id);
    return this.get(id);
  }
}
