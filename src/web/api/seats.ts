// /api/v1/seats (alias /api/v1/clients): seats, one PC's disk each: modes, move, commit,
// snapshots, quotas. docs/api.md describes each route.
import { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import {
  parseAddSeatRequest,
  parseCommitRequest,
  parseImageName,
  parseMenuRequest,
  parseMode,
  parseOnceRequest,
  parseQuota,
  parseSeatName,
  parseSnapshotLabel,
  parseSnapshotNumber,
  parseTraceSwitch,
  parseVersion,
} from '../../seats/index.js';
import { GroupRepository, parseGroupName } from '../../seats/groups.js';
import type { AppContext } from '../context.js';
import { checkFields, jsonBodyLimit, readJsonObject, readOptionalJsonObject } from '../json.js';

export function seatRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(ctx.seats.list()));

  app.post('/', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['name', 'image', 'mac', 'mode', 'initiators', 'chap', 'mutualChap', 'size', 'quota', 'iso', 'group']);
    // The group is parsed with the rest, before anything is stored; it is made on first use.
    const { group: groupField, ...seatFields } = body;
    const group = groupField === undefined || groupField === null || groupField === '' ? null : parseGroupName(groupField);
    const seat = ctx.seats.add(parseAddSeatRequest(seatFields));
    if (group !== null) new GroupRepository(ctx.db).assign(group, [seat.name], { create: true });
    return c.json(seat, 201);
  });

  // Every seat of an image to a version (default: the image's current one).
  app.post('/move', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['image', 'version']);
    return c.json(ctx.seats.moveAll(parseImageName(body.image), parseVersion(body.version)));
  });

  app.get('/:name', (c) => c.json(ctx.seats.show(parseSeatName(c.req.param('name')))));

  app.delete('/:name', async (c) => {
    const name = parseSeatName(c.req.param('name'));
    await ctx.seats.remove(name);
    return c.json({ removed: name });
  });

  app.post('/:name/reset', (c) => c.json(ctx.seats.reset(parseSeatName(c.req.param('name')))));

  app.post('/:name/move', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['version']);
    return c.json(ctx.seats.move(parseSeatName(c.req.param('name')), parseVersion(body.version)));
  });

  app.post('/:name/mode', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['mode']);
    return c.json(ctx.seats.setMode(parseSeatName(c.req.param('name')), parseMode(body.mode)));
  });

  // The boot menu at the seat's PC: on, off or as the box's setting; timeout; default entry.
  app.post('/:name/menu', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['menu', 'timeout', 'default']);
    return c.json(ctx.seats.setMenu(parseSeatName(c.req.param('name')), parseMenuRequest(body)));
  });

  // What the seat's next boot does (once), or {once: null} to cancel it.
  app.post('/:name/boot', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['once']);
    if (!('once' in body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: once is required (disk, local, menu, iso:IMAGE/FILE, or null to cancel)');
    return c.json(ctx.seats.setOnce(parseSeatName(c.req.param('name')), parseOnceRequest(body)));
  });

  app.post('/:name/quota', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['quota']);
    if (!('quota' in body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: quota is required (a size like "10G", or null for none)');
    return c.json(ctx.seats.setQuota(parseSeatName(c.req.param('name')), parseQuota(body.quota)));
  });

  app.post('/:name/commit', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['image', 'force']);
    return c.json(await ctx.seats.commit(parseSeatName(c.req.param('name')), parseCommitRequest(body)), 201);
  });

  // Recording the seat's boot trace (docs/seats.md): {on: true|false}.
  app.get('/:name/trace', (c) => c.json(ctx.seats.trace(parseSeatName(c.req.param('name')))));
  app.post('/:name/trace', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['on']);
    return c.json(ctx.seats.setTrace(parseSeatName(c.req.param('name')), parseTraceSwitch(body.on)));
  });

  app.get('/:name/snapshots', (c) => c.json(ctx.seats.snapshots(parseSeatName(c.req.param('name')))));

  app.post('/:name/snapshots', jsonBodyLimit, async (c) => {
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['label']);
    return c.json(await ctx.seats.snapshot(parseSeatName(c.req.param('name')), parseSnapshotLabel(body.label)), 201);
  });

  app.post('/:name/snapshots/:number/restore', async (c) => c.json(await ctx.seats.restoreSnapshot(parseSeatName(c.req.param('name')), parseSnapshotNumber(c.req.param('number')))));

  app.delete('/:name/snapshots/:number', async (c) => c.json(await ctx.seats.deleteSnapshot(parseSeatName(c.req.param('name')), parseSnapshotNumber(c.req.param('number')))));
  return app;
}
