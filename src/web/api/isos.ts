// /api/v1/isos: the ISO library (src/iso) with the URL iPXE fetches each file from
// (`sanboot http://...`). A hono sub-app; the ISO service mounts it with route().
import { Hono, type Context } from 'hono';
import type { IsoRow } from '../../db/images.js';
import type { IsoListEntry } from '../views.js';

export interface IsoApiDeps {
  list(): IsoRow[];
  /** The URL of one ISO as a client of this request reaches the box. */
  urlFor(c: Context, row: IsoRow): string;
}

export function createIsoApi(deps: IsoApiDeps): Hono {
  const app = new Hono();
  app.get('/', (c) =>
    c.json(
      deps.list().map(
        (row): IsoListEntry => ({
          image: row.imageName,
          fileName: row.fileName,
          sizeBytes: row.sizeBytes,
          sha256: row.sha256,
          source: row.source,
          createdAt: row.createdAt,
          path: row.filePath,
          url: deps.urlFor(c, row),
        }),
      ),
    ),
  );
  return app;
}
