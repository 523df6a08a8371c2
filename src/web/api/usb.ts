// /api/v1/usb: USB sticks announced by udev, their importable files, and release.
import type { Hono } from 'hono';
import type { AppContext, RouteTools } from '../app.js';

export function mountUsbRoutes(app: Hono, ctx: AppContext, _tools: RouteTools): void {
  app.get('/api/v1/usb', async (c) => {
    // Pick up events udev wrote a moment ago instead of waiting for the next poll.
    await ctx.usb.sync();
    return c.json(ctx.usb.list());
  });

  app.get('/api/v1/usb/:id', async (c) => {
    await ctx.usb.sync();
    return c.json(ctx.usb.get(c.req.param('id')));
  });

  app.post('/api/v1/usb/:id/release', async (c) => {
    await ctx.usb.release(c.req.param('id'));
    return c.json({ released: c.req.param('id') });
  });
}
