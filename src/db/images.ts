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
}

export interface ImageRow {
  id: number;
  name: string;
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
  };
}

const VERSION_COLUMNS = `v.image_id, i.name AS image_name, v.number, v.file_path, v.size_bytes, v.sha256, v.created_at`;

export class ImageRepository {
  constructor(private readonly db: Db) {}

  findImage(name: string): ImageRow | undefined {
    const row = this.db.prepare('SELECT id, name, created_at FROM images WHERE name = ?').get(name) as
      | { id: number; name: string; created_at: string }
      | undefined;
    return row && { id: row.id, name: row.name, createdAt: row.created_at };
  }

  listImages(): ImageRow[] {
    return (this.db.prepare('SELECT id, name, created_at FROM images ORDER BY name').all() as { id: number; name: string; created_at: string }[]).map(
      (r) => ({ id: r.id, name: r.name, createdAt: r.created_at }),
    );
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

  /** The version new seats start on and resets move seats to. Until rollback exists this
   *  is the latest version. */
  currentVersion(imageName: string): ImageVersionRow | undefined {
    return this.latestVersion(imageName);
  }

  getVersion(imageId: number, number: number): ImageVersionRow | undefined {
    const row = this.db
      .prepare(`SELECT ${VERSION_COLUMNS} FROM image_versions v JOIN images i ON i.id = v.image_id WHERE v.image_id = ? AND v.number = ?`)
      .get(imageId, number) as VersionDbRow | undefined;
    return row && toVersion(row);
  }

  /** Highest recorded version number of the image, 0 when it has none. */
  maxVersionNumber(imageName: string): number {
    const row = this.db
      .prepare('SELECT MAX(v.number) AS n FROM image_versions v JOIN images i ON i.id = v.image_id WHERE i.name = ?')
      .get(imageName) as { n: number | null };
    return row.n ?? 0;
  }

  /** Every recorded version file path (to tell recorded files from crash leftovers). */
  allVersionPaths(): Set<string> {
    return new Set((this.db.prepare('SELECT file_path FROM image_versions').all() as { file_path: string }[]).map((r) => r.file_path));
  }

  /** Records a version; creates the image on its first version. */
  addVersion(version: { imageName: string; number: number; filePath: string; sizeBytes: number; sha256: string }): ImageVersionRow {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO images (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(version.imageName, now);
      const image = this.findImage(version.imageName)!;
      this.db
        .prepare('INSERT INTO image_versions (image_id, number, file_path, size_bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(image.id, version.number, version.filePath, version.sizeBytes, version.sha256, now);
      return this.getVersion(image.id, version.number)!;
    })();
  }
}
