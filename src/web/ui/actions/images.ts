// POST /images/:name/{rollback,delete,prune}: the buttons on the images page.
import { Hono } from 'hono';
import type { Env, Ui } from '../kit.js';

export function imageActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/images/:name/rollback', async (c, form) => {
    const name = c.req.param('name') ?? '';
    const version = Number(form.version);
    if (!Number.isSafeInteger(version) || version < 1) return { ok: false, message: 'version: expected a positive whole number', redirect: '/images' };
    const result = await ui.call('POST', `/api/v1/images/${encodeURIComponent(name)}/rollback`, { version });
    return { ok: result.ok, message: result.ok ? `${name}: version ${version} is now current.` : `Rollback failed: ${result.message}`, redirect: '/images' };
  });

  ui.action(app, '/images/:name/delete', async (c, form) => {
    const name = c.req.param('name') ?? '';
    const version = Number(form.version);
    if (!Number.isSafeInteger(version) || version < 1) return { ok: false, message: 'version: expected a positive whole number', redirect: '/images' };
    const result = await ui.call('DELETE', `/api/v1/images/${encodeURIComponent(name)}/versions/${version}`);
    return { ok: result.ok, message: result.ok ? `${name}: version ${version} deleted.` : `Delete failed: ${result.message}`, redirect: '/images' };
  });

  ui.action(app, '/images/:name/prune', async (c) => {
    const name = c.req.param('name') ?? '';
    const result = await ui.call('POST', `/api/v1/images/${encodeURIComponent(name)}/prune`, {});
    return { ok: result.ok, message: result.ok ? `${name}: unused versions removed.` : `Prune failed: ${result.message}`, redirect: '/images' };
  });
  return app;
}
