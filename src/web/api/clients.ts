// /api/v1/clients: seats (one PC's disk each).
import type { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import { readJsonObject, type AppContext, type RouteTools } from '../app.js';

export function mountClientRoutes(app: Hono, ctx: AppContext, { jsonLimit }: RouteTools): void {
  app.get('/api/v1/clients', (c) => c.json(ctx.seats.list()));

  app.post('/api/v1/clients', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    const known = new Set(['name', 'image', 'mac', 'mode', 'initiators', 'chap', 'mutualChap']);
    for (const key of Object.keys(body)) {
      if (!known.has(key)) throw new LanbootError('LANBOOT_INVALID_INPUT', `request body: unknown field '${key.slice(0, 40)}'`);
    }
    return c.json(ctx.seats.add({ ...body, name: body.name, image: body.image }), 201);
  });

  app.get('/api/v1/clients/:name', (c) => c.json(ctx.seats.show(c.req.param('name'))));

  app.delete('/api/v1/clients/:name', async (c) => {
    const name = c.req.param('name');
    await ctx.seats.remove(name);
    return c.json({ removed: name });
  });

  app.post('/api/v1/clients/:name/reset', (c) => c.json(ctx.seats.reset(c.req.param('name'))));

}
