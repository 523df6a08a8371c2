// /api/v1/seats (alias /api/v1/clients): seats, one PC's disk each: modes, move, commit,
// snapshots, quotas. docs/api.md describes each route.
import { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import type { AppContext } from '../context.js';
import { checkFields, jsonBodyLimit, readJsonObject, readOptionalJsonObject } from '../json.js';

export function seatRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(ctx.seats.list()));

  app.post('/', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['name', 'image', 'mac', 'mode', 'initiators', 'chap', 'mutualChap', 'size', 'quota']);
    return c.json(ctx.seats.add({ ...body, name: body.name, image: body.image }), 201);
  });

  // Every seat of an image to a version (default: the image's current one).
  app.post('/move', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['image', 'version']);
    return c.json(ctx.seats.moveAll(body.image, body.version));
  });

  app.get('/:name', (c) => c.json(ctx.seats.show(c.req.param('name'))));

  app.delete('/:name', async (c) => {
    const name = c.req.param('name');
    await ctx.seats.remove(name);
    return c.json({ removed: name });
  });

  app.post('/:name/reset', (c) => c.json(ctx.seats.reset(c.req.param('name'))));

  app.post('/:name/move', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['version']);
    return c.json(ctx.seats.move(c.req.param('name'), body.version));
  });

  app.post('/:name/mode', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['mode']);
    return c.json(ctx.seats.setMode(c.req.param('name'), body.mode));
  });

  app.post('/:name/quota', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['quota']);
    if (!('quota' in body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: quota is required (a size like "10G", or null for none)');
    return c.json(ctx.seats.setQuota(c.req.param('name'), body.quota));
  });

  app.post('/:name/commit', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['image', 'force']);
    return c.json(await ctx.seats.commit(c.req.param('name'), { image: body.image, force: body.force }), 201);
  });

  app.get('/:name/snapshots', (c) => c.json(ctx.seats.snapshots(c.req.param('name'))));

  app.post('/:name/snapshots', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['label']);
    return c.json(await ctx.seats.snapshot(c.req.param('name'), body.label), 201);
  });

  app.post('/:name/snapshots/:number/restore', async (c) => c.json(await ctx.seats.restoreSnapshot(c.req.param('name'), c.req.param('number'))));

  app.delete('/:name/snapshots/:number', async (c) => c.json(await ctx.seats.deleteSnapshot(c.req.param('name'), c.req.param('number'))));
  return app;
}
