// /api/v1/usb: USB sticks announced by udev, their importable files, and release.
import { Hono } from 'hono';
import type { AppContext } from '../context.js';

export function usbRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    // Pick up events udev wrote a moment ago instead of waiting for the next poll.
    await ctx.usb.sync();
    return c.json(ctx.usb.list());
  });

  app.get('/:id', async (c) => {
    await ctx.usb.sync();
    return c.json(ctx.usb.get(c.req.param('id')));
  });

  app.post('/:id/release', async (c) => {
    await ctx.usb.release(c.req.param('id'));
    return c.json({ released: c.req.param('id') });
  });
  return app;
}
