// /api/v1/clients: seats (one PC's disk each): modes, move, commit, snapshots, quotas;
// /api/v1/space: data disk and per-seat usage. docs/api.md describes each route.
import type { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import {
  parseAddSeatRequest,
  parseCommitRequest,
  parseImageName,
  parseMode,
  parseQuota,
  parseSeatName,
  parseSnapshotLabel,
  parseSnapshotNumber,
  parseVersion,
} from '../../seats/index.js';
import { readJsonObject, type AppContext, type RouteTools } from '../app.js';

function checkFields(body: Record<string, unknown>, allowed: string[]): void {
  const known = new Set(allowed);
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw new LanbootError('LANBOOT_INVALID_INPUT', `request body: unknown field '${key.slice(0, 40)}'`);
  }
}

/** A body is optional on these routes: an empty request means "no options". */
async function optionalBody(c: Parameters<typeof readJsonObject>[0]): Promise<Record<string, unknown>> {
  const length = c.req.header('content-length');
  if ((length === undefined || length === '0') && !c.req.header('transfer-encoding')) return {};
  return readJsonObject(c);
}

export function mountClientRoutes(app: Hono, ctx: AppContext, { jsonLimit }: RouteTools): void {
  app.get('/api/v1/clients', (c) => c.json(ctx.seats.list()));

  app.post('/api/v1/clients', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['name', 'image', 'mac', 'mode', 'initiators', 'chap', 'mutualChap', 'size', 'quota']);
    return c.json(ctx.seats.add(parseAddSeatRequest(body)), 201);
  });

  // Every seat of an image to a version (default: the image's current one).
  app.post('/api/v1/clients/move', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['image', 'version']);
    return c.json(ctx.seats.moveAll(parseImageName(body.image), parseVersion(body.version)));
  });

  app.get('/api/v1/clients/:name', (c) => c.json(ctx.seats.show(parseSeatName(c.req.param('name')))));

  app.delete('/api/v1/clients/:name', async (c) => {
    const name = parseSeatName(c.req.param('name'));
    await ctx.seats.remove(name);
    return c.json({ removed: name });
  });

  app.post('/api/v1/clients/:name/reset', (c) => c.json(ctx.seats.reset(parseSeatName(c.req.param('name')))));

  app.post('/api/v1/clients/:name/move', jsonLimit, async (c) => {
    const body = await optionalBody(c);
    checkFields(body, ['version']);
    return c.json(ctx.seats.move(parseSeatName(c.req.param('name')), parseVersion(body.version)));
  });

  app.post('/api/v1/clients/:name/mode', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['mode']);
    return c.json(ctx.seats.setMode(parseSeatName(c.req.param('name')), parseMode(body.mode)));
  });

  app.post('/api/v1/clients/:name/quota', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['quota']);
    if (!('quota' in body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: quota is required (a size like "10G", or null for none)');
    return c.json(ctx.seats.setQuota(parseSeatName(c.req.param('name')), parseQuota(body.quota)));
  });

  app.post('/api/v1/clients/:name/commit', jsonLimit, async (c) => {
    const body = await optionalBody(c);
    checkFields(body, ['image', 'force']);
    return c.json(await ctx.seats.commit(parseSeatName(c.req.param('name')), parseCommitRequest(body)), 201);
  });

  app.get('/api/v1/clients/:name/snapshots', (c) => c.json(ctx.seats.snapshots(parseSeatName(c.req.param('name')))));

  app.post('/api/v1/clients/:name/snapshots', jsonLimit, async (c) => {
    const body = await optionalBody(c);
    checkFields(body, ['label']);
    return c.json(await ctx.seats.snapshot(parseSeatName(c.req.param('name')), parseSnapshotLabel(body.label)), 201);
  });

  app.post('/api/v1/clients/:name/snapshots/:number/restore', async (c) =>
    c.json(await ctx.seats.restoreSnapshot(parseSeatName(c.req.param('name')), parseSnapshotNumber(c.req.param('number')))),
  );

  app.delete('/api/v1/clients/:name/snapshots/:number', async (c) =>
    c.json(await ctx.seats.deleteSnapshot(parseSeatName(c.req.param('name')), parseSnapshotNumber(c.req.param('number')))),
  );

  app.get('/api/v1/space', (c) => c.json(ctx.seats.spaceReport()));
}
