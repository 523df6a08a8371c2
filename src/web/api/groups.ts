// /api/v1/groups: groups of seats (a room) and the actions on a whole group: reset, mode,
// move to a version. Waking a group is POST /api/v1/wake {group} (src/wake). docs/api.md.
import { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import { parseMode, parseSeatName, parseVersion } from '../../seats/index.js';
import { parseGroupName, SeatGroups } from '../../seats/groups.js';
import type { AppContext } from '../context.js';
import { checkFields, jsonBodyLimit, readJsonObject, readOptionalJsonObject } from '../json.js';

const MAX_SEATS_PER_REQUEST = 1000;

export function groupRoutes(ctx: AppContext): Hono {
  const groups = new SeatGroups(ctx.db, ctx.seats);
  const app = new Hono();
  app.get('/', (c) => c.json(groups.repository.list()));

  app.post('/', jsonBodyLimit, async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['name']);
    return c.json(groups.repository.create(parseGroupName(body.name, 'name')), 201);
  });

  app.get('/:name', (c) => c.json(groups.repository.require(parseGroupName(c.req.param('name')))));

  app.delete('/:name', (c) => {
    const name = parseGroupName(c.req.param('name'));
    groups.repository.remove(name);
    return c.json({ removed: name });
  });

  // Puts seats in the group (taking them out of their old one); all or nothing.
  app.post('/:name/seats', jsonBodyLimit, async (c) => {
    const name = parseGroupName(c.req.param('name'));
    const body = await readJsonObject(c);
    checkFields(body, ['seats']);
    if (!Array.isArray(body.seats) || body.seats.length === 0 || body.seats.length > MAX_SEATS_PER_REQUEST) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `seats: expected a list of 1-${MAX_SEATS_PER_REQUEST} seat names`);
    }
    const seats = body.seats.map((s) => parseSeatName(s));
    return c.json(groups.repository.assign(name, seats, { create: false }));
  });

  app.post('/:name/reset', (c) => c.json(groups.reset(parseGroupName(c.req.param('name')))));

  app.post('/:name/mode', jsonBodyLimit, async (c) => {
    const name = parseGroupName(c.req.param('name'));
    const body = await readJsonObject(c);
    checkFields(body, ['mode']);
    return c.json(groups.setMode(name, parseMode(body.mode)));
  });

  app.post('/:name/move', jsonBodyLimit, async (c) => {
    const name = parseGroupName(c.req.param('name'));
    const body = await readOptionalJsonObject(c);
    checkFields(body, ['version']);
    return c.json(groups.move(name, parseVersion(body.version)));
  });
  return app;
}
