// Data access for golden images and their versions.
import type { Db } from './database.js';

export interface ImageVersionRow {
  imageId: number;
  imageName: string;
  number: number;
  filePath: string;
  sizeBytes: number;
  sha256: string;
  createdAt: string;
  /** Where it came from ("file /path", "usb sdb1 /dir/x.qcow2", "upload", "commit seat pc1"), null when unknown. */
  source: string | null;
}

export interface ImageRow {
  id: number;
  name: string;
  createdAt: string;
  /** Stored current version; null = the latest (see currentVersion()). */
  currentVersion: number | null;
}

export interface IsoRow {
  id: number;
  imageName: string;
  fileName: string;
  filePath: string;
  sizeBytes: number;
  sha256: string;
  source: string | null;
  createdAt: string;
}

interface VersionDbRow {
  image_id: number;
  image_name: string;
  number: number;
  file_path: string;
  size_bytes: number;
  sha256: string;
  created_at: string;
  source: string | null;
}

function toVersion(row: VersionDbRow): ImageVersionRow {
  return {
    imageId: row.image_id,
    imageName: row.image_name,
    number: row.number,
    filePath: row.file_path,
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    createdAt: row.created_at,
    source: row.source,
  };
}

const VERSION_COLUMNS = `v.image_id, i.name AS image_name, v.number, v.file_path, v.size_bytes, v.sha256, v.created_at, v.source`;

interface ImageDbRow {
  id: number;
  name: string;
  created_at: string;
  current_version: number | null;
}

function toImage(r: ImageDbRow): ImageRow {
  return { id: r.id, name: r.name, createdAt: r.created_at, currentVersion: r.current_version };
}

export class ImageRepository {
  constructor(private readonly db: Db) {}

  findImage(name: string): ImageRow | undefined {
    const row = this.db.prepare('SELECT id, name, created_at, current_version FROM images WHERE name = ?').get(name) as ImageDbRow | undefined;
    return row && toImage(row);
  }

  listImages(): ImageRow[] {
    return (this.db.prepare('SELECT id, name, created_at, current_version FROM images ORDER BY name').all() as ImageDbRow[]).map(toImage);
  }

  listVersions(imageName?: string): ImageVersionRow[] {
    const sql = `SELECT ${VERSION_COLUMNS} FROM image_versions v JOIN images i ON i.id = v.image_id
                 ${imageName === undefined ? '' : 'WHERE i.name = ?'} ORDER BY i.name, v.number`;
    const rows = (imageName === undefined ? this.db.prepare(sql).all() : this.db.prepare(sql).all(imageName)) as VersionDbRow[];
    return rows.map(toVersion);
  }

  latestVersion(imageName: string): ImageVersionRow | undefined {
    const row = this.db
      .prepare(`SELECT ${VERSION_COLUMNS} FROM image_versions v JOIN images i ON i.id = v.image_id WHERE i.name = ? ORDER BY v.number DESC LIMIT 1`)
      .get(imageName) as VersionDbRow | undefined;
    return row && toVersion(row);
  }

  /** The version new seats start on and resets move seats to: the stored current version
   *  (set by publishing and by rollback), or the latest when none is stored. */
  currentVersion(imageName: string): ImageVersionRow | undefined {
    const image = this.findImage(imageName);
    if (!image) return undefined;
    if (image.currentVersion !== null) {
      const current = this.getVersion(image.id, image.currentVersion);
      if (current) return current;
    }
    return this.latestVersion(imageName);
  }

  /** Makes `number` the current version of the image (rollback / roll forward). */
  setCurrentVersion(imageId: number, number: number): void {
    this.db.prepare('UPDATE images SET current_version = ? WHERE id = ?').run(number, imageId);
  }

  /** Names of the seats whose disk is this version (seats.image_version). */
  seatsUsingVersion(imageId: number, number: number): string[] {
    return (this.db.prepare('SELECT name FROM seats WHERE image_id = ? AND image_version = ? ORDER BY name').all(imageId, number) as { name: string }[]).map(
      (r) => r.name,
    );
  }

  /** Every (image, version) a seat uses, as "imageId:number" -> seat names. */
  seatsByVersion(): Map<string, string[]> {
    const map = new Map<string, string[]>();
    const rows = this.db.prepare('SELECT name, image_id, image_version FROM seats WHERE image_id IS NOT NULL ORDER BY name').all() as {
      name: string;
      image_id: number;
      image_version: number;
    }[];
    for (const r of rows) {
      const key = `${r.image_id}:${r.image_version}`;
      map.set(key, [...(map.get(key) ?? []), r.name]);
    }
    return map;
  }

  /** Removes a version's row. The caller checked it is neither current nor used; the
   *  seats foreign key (ON DELETE RESTRICT) still refuses if a seat took it meanwhile. */
  deleteVersionRow(imageId: number, number: number): void {
    this.db.prepare('DELETE FROM image_versions WHERE image_id = ? AND number = ?').run(imageId, number);
  }

  /** ISO files of one image (or all). */
  listIsos(imageName?: string): IsoRow[] {
    const sql = `SELECT o.id, i.name AS image_name, o.file_name, o.file_path, o.size_bytes, o.sha256, o.source, o.created_at
                 FROM image_isos o JOIN images i ON i.id = o.image_id ${imageName === undefined ? '' : 'WHERE i.name = ?'} ORDER BY i.name, o.file_name`;
    const rows = (imageName === undefined ? this.db.prepare(sql).all() : this.db.prepare(sql).all(imageName)) as {
      id: number;
      image_name: string;
      file_name: string;
      file_path: string;
      size_bytes: number;
      sha256: string;
      source: string | null;
      created_at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      imageName: r.image_name,
      fileName: r.file_name,
      filePath: r.file_path,
      sizeBytes: r.size_bytes,
      sha256: r.sha256,
      source: r.source,
      createdAt: r.created_at,
    }));
  }

  /** Records an ISO file (replacing the row of the same file name); creates the image. */
  addIso(iso: { imageName: string; fileName: string; filePath: string; sizeBytes: number; sha256: string; source: string | null }): IsoRow {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO images (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(iso.imageName, now);
      const image = this.findImage(iso.imageName)!;
      this.db
        .prepare(
          `INSERT INTO image_isos (image_id, file_name, file_path, size_bytes, sha256, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(image_id, file_name) DO UPDATE SET file_path = excluded.file_path, size_bytes = excluded.size_bytes,
             sha256 = excluded.sha256, source = excluded.source, created_at = excluded.created_at`,
        )
        .run(image.id, iso.fileName, iso.filePath, iso.sizeBytes, iso.sha256, iso.source, now);
      return this.listIsos(iso.imageName).find((r) => r.fileName === iso.fileName)!;
    })();
  }

  getVersion(imageId: number, number: number): ImageVersionRow | undefined {
    const row = this.db
      .prepare(`SELECT ${VERSION_COLUMNS} FROM image_versions v JOIN images i ON i.id = v.image_id WHERE v.image_id = ? AND v.number = ?`)
      .get(imageId, number) as VersionDbRow | undefined;
    return row && toVersion(row);
  }

  /** Highest version number the image ever had (deleted versions included: numbers are
   *  never reused), 0 when it has none. */
  maxVersionNumber(imageName: string): number {
    const row = this.db
      .prepare(
        `SELECT MAX(COALESCE((SELECT MAX(v.number) FROM image_versions v WHERE v.image_id = i.id), 0), i.last_version) AS n
         FROM images i WHERE i.name = ?`,
      )
      .get(imageName) as { n: number | null } | undefined;
    return row?.n ?? 0;
  }

  /** Every recorded version file path (to tell recorded files from crash leftovers). */
  allVersionPaths(): Set<string> {
    const paths = (this.db.prepare('SELECT file_path FROM image_versions UNION ALL SELECT file_path FROM image_isos').all() as { file_path: string }[]).map(
      (r) => r.file_path,
    );
    return new Set(paths);
  }

  /** Records a version and makes it current; creates the image on its first version. */
  addVersion(version: { imageName: string; number: number; filePath: string; sizeBytes: number; sha256: string; source?: string | null }): ImageVersionRow {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO images (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(version.imageName, now);
      const image = this.findImage(version.imageName)!;
      this.db
        .prepare('INSERT INTO image_versions (image_id, number, file_path, size_bytes, sha256, created_at, source) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(image.id, version.number, version.filePath, version.sizeBytes, version.sha256, now, version.source ?? null);
      this.setCurrentVersion(image.id, version.number);
      this.db.prepare('UPDATE images SET last_version = max(last_version, ?) WHERE id = ?').run(version.number, image.id);
      return this.getVersion(image.id, version.number)!;
    })();
  }
}
