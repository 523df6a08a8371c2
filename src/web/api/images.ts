// /api/v1/images: golden images and their versions.
import type { Hono } from 'hono';
import { validateName } from '../../config/names.js';
import type { ImageRepository, ImageVersionRow } from '../../db/images.js';
import { LanbootError } from '../../log/errors.js';
import type { AppContext, RouteTools } from '../app.js';

export interface ImageView {
  name: string;
  latestVersion: number;
  versions: { number: number; sizeBytes: number; sha256: string; createdAt: string; path: string }[];
}

function versionView(v: ImageVersionRow) {
  return { number: v.number, sizeBytes: v.sizeBytes, sha256: v.sha256, createdAt: v.createdAt, path: v.filePath };
}

export function listImages(images: ImageRepository): ImageView[] {
  const byName = new Map<string, ImageView>();
  for (const v of images.listVersions()) {
    let view = byName.get(v.imageName);
    if (!view) byName.set(v.imageName, (view = { name: v.imageName, latestVersion: 0, versions: [] }));
    view.versions.push(versionView(v));
    view.latestVersion = Math.max(view.latestVersion, v.number);
  }
  return [...byName.values()];
}

export function mountImageRoutes(app: Hono, ctx: AppContext, { log }: RouteTools): void {
  app.get('/api/v1/images', (c) => c.json(listImages(ctx.images)));

  app.get('/api/v1/images/:name', (c) => {
    const name = validateName(c.req.param('name'), 'image', 'image');
    const view = listImages(ctx.images).find((i) => i.name === name);
    if (!view) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${name}' does not exist`);
    return c.json(view);
  });

  // A new version from a raw disk image in the request body (application/octet-stream),
  // streamed to disk: never held in memory.
  app.post('/api/v1/images/:name/versions', async (c) => {
    const name = validateName(c.req.param('name'), 'image', 'name');
    const lengthHeader = c.req.header('content-length');
    let expectedBytes: number | undefined;
    if (lengthHeader !== undefined) {
      if (!/^\d{1,16}$/.test(lengthHeader)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'Content-Length: not a byte count');
      expectedBytes = Number(lengthHeader);
    }
    // On Node the raw IncomingMessage is the cheapest source (no web-stream conversion).
    const incoming = (c.env as { incoming?: AsyncIterable<Uint8Array> } | undefined)?.incoming;
    const body = incoming ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null);
    if (!body) throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${name}: the request has no body (send the raw disk image)`);
    const started = Date.now();
    log.info({ image: name, expectedBytes }, 'image import started');
    const version = await ctx.imageStore.importVersion(name, body, { expectedBytes });
    const seconds = (Date.now() - started) / 1000;
    log.info({ image: name, version: version.number, sizeBytes: version.sizeBytes, sha256: version.sha256, seconds }, 'image version published');
    return c.json({ name, ...versionView(version) }, 201);
  });

}
