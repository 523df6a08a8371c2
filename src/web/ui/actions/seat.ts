// POST /seats/:name/<act>: the buttons of a seat's page, each one API call on the seat.
import { Hono } from 'hono';
import type { ApiResult, Env, Ui } from '../kit.js';

export function seatActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  const seatAction = (act: string, run: (name: string, form: Record<string, string>) => Promise<ApiResult>, done: (name: string) => string) =>
    ui.action(app, `/seats/:name/${act}`, async (c, form) => {
      const name = c.req.param('name') ?? '';
      const result = await run(name, form);
      const back = `/seats/${encodeURIComponent(name)}`;
      if (!result.ok) return { ok: false, message: `${act} failed: ${result.message}`, redirect: result.status === 404 ? '/seats' : back };
      return { ok: true, message: done(name), redirect: act === 'remove' ? '/seats' : back };
    });
  const seatPath = (name: string) => `/api/v1/seats/${encodeURIComponent(name)}`;
  seatAction('reset', (n) => ui.call('POST', `${seatPath(n)}/reset`), (n) => `Seat ${n} reset: its next boot starts from the golden image.`);
  seatAction('move', (n) => ui.call('POST', `${seatPath(n)}/move`, {}), (n) => `Seat ${n} moved to the current version.`);
  seatAction('snapshot', (n, f) => ui.call('POST', `${seatPath(n)}/snapshots`, f.label ? { label: f.label } : {}), (n) => `Snapshot of ${n} taken.`);
  seatAction('mode', (n, f) => ui.call('POST', `${seatPath(n)}/mode`, { mode: f.mode ?? '' }), (n) => `Seat ${n}: mode changed.`);
  seatAction('boot', (n, f) => ui.call('POST', `${seatPath(n)}/boot`, { once: f.once === 'none' || !f.once ? null : f.once }), (n) => `Seat ${n}: next boot set.`);
  seatAction(
    'menu',
    (n, f) => {
      const timeout = (f.timeout ?? '').trim();
      return ui.call('POST', `${seatPath(n)}/menu`, { menu: f.menu ?? '', timeout: timeout === '' ? null : timeout, default: f.default || 'disk' });
    },
    (n) => `Seat ${n}: boot menu set.`,
  );
  seatAction(
    'quota',
    (n, f) => {
      const text = (f.quota ?? '').trim();
      return ui.call('POST', `${seatPath(n)}/quota`, { quota: text === '' || text === 'none' ? null : text });
    },
    (n) => `Seat ${n}: quota set.`,
  );
  seatAction('restore', (n, f) => ui.call('POST', `${seatPath(n)}/snapshots/${encodeURIComponent(f.snapshot ?? '')}/restore`, {}), (n) => `Seat ${n} restored.`);
  seatAction('commit', (n, f) => ui.call('POST', `${seatPath(n)}/commit`, f.image ? { image: f.image.trim() } : {}), (n) => `Seat ${n} committed as a new image version.`);
  seatAction(
    'remove',
    async (n, f) => (f.confirm === 'yes' ? ui.call('DELETE', seatPath(n)) : { ok: false, status: 400, data: null, message: 'tick the box to confirm' }),
    (n) => `Seat ${n} removed.`,
  );
  return app;
}
