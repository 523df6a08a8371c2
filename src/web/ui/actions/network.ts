// POST /network/detect: look for other DHCP servers on the LAN now.
import { Hono } from 'hono';
import type { Env, Ui } from '../kit.js';

export function networkActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/network/detect', async () => {
    const result = await ui.call<{ servers?: unknown[] }>('POST', '/api/v1/dhcp/detect', {});
    const count = Array.isArray(result.data?.servers) ? result.data.servers.length : 0;
    return { ok: result.ok, message: result.ok ? `DHCP check done: ${count} other server(s) answered.` : `DHCP check failed: ${result.message}`, redirect: '/network' };
  });
  return app;
}
