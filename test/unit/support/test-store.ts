// A real data dir + migrated SQLite database + image store, removed when the test ends: what
// the image and seat unit tests all start from.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase, type Db } from '../../../src/db/database.js';
import { ImageRepository } from '../../../src/db/images.js';
import { SeatRepository } from '../../../src/db/seats.js';
import { ImageStore } from '../../../src/storage/image-store.js';
import { DataLayout } from '../../../src/storage/layout.js';

export interface TestStore {
  dir: string;
  db: Db;
  layout: DataLayout;
  images: ImageRepository;
  seats: SeatRepository;
  store: ImageStore;
}

export async function openTestStore(t: { after(fn: () => void): void }, prefix: string): Promise<TestStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lanboot-${prefix}-`));
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db);
  const layout = new DataLayout(dir);
  const images = new ImageRepository(db);
  const store = new ImageStore(layout, images);
  await store.cleanup();
  return { dir, db, layout, images, seats: new SeatRepository(db), store };
}
