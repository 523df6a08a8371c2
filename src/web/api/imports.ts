// /api/v1/imports: image import jobs (a file on this box or on a USB stick) with progress
// and history. Importing from a path is for the local API only (the CLI on the box): a LAN
// session must not read arbitrary files of the box.
import { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import { apiOriginOf, type AppContext } from '../context.js';
import { jsonBodyLimit, readJsonObject } from '../json.js';

function parseId(text: string): number {
  if (!/^[1-9]\d{0,15}$/.test(text)) throw new LanbootError('LANBOOT_INVALID_INPUT', `import id '${text.slice(0, 20)}': expected a positive number`);
  return Number(text);
}

export function importRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  app.get('/', (c) => {
    const limitText = c.req.query('limit') ?? '50';
    if (!/^\d{1,4}$/.test(limitText)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'limit: expected a number');
    const image = c.req.query('image');
    return c.json(ctx.imports.list(Number(limitText), image));
  });

  app.get('/:id', (c) => c.json(ctx.imports.get(parseId(c.req.param('id')))));

  app.delete('/:id', async (c) => c.json(await ctx.imports.cancel(parseId(c.req.param('id')))));

  // { image, path } or { image, usb: { device, file } }; answers 202 with the job.
  app.post('/', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    const image = body['image'];
    if (typeof image !== 'string') throw new LanbootError('LANBOOT_INVALID_INPUT', 'image: expected the image name');
    const usb = body['usb'];
    if (usb !== undefined) {
      if (usb === null || typeof usb !== 'object' || Array.isArray(usb)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'usb: expected { device, file }');
      const { device, file } = usb as Record<string, unknown>;
      if (typeof device !== 'string' || typeof file !== 'string') throw new LanbootError('LANBOOT_INVALID_INPUT', 'usb: expected { device, file } as strings');
      return c.json(await ctx.usb.importFile(device, file, image), 202);
    }
    const file = body['path'];
    if (typeof file !== 'string') throw new LanbootError('LANBOOT_INVALID_INPUT', 'path: expected the absolute path of a disk image on this box');
    if (apiOriginOf(c) !== 'local') throw new LanbootError('LANBOOT_INVALID_INPUT', 'path: importing a file by path is only possible from the box itself (lanboot CLI)');
    const isoName = body['isoName'];
    if (isoName !== undefined && typeof isoName !== 'string') throw new LanbootError('LANBOOT_INVALID_INPUT', 'isoName: expected a file name ending in .iso');
    return c.json(await ctx.imports.start({ image, path: file, ...(isoName !== undefined ? { isoName } : {}) }), 202);
  });
  return app;
}
