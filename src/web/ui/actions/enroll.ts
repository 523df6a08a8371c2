// POST /enroll: a waiting PC becomes a seat (POST /api/v1/enroll).
import { Hono } from 'hono';
import type { SeatDetails } from '../../views.js';
import type { Env, Ui } from '../kit.js';

export function enrollActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/enroll', async (_c, form) => {
    const result = await ui.call<SeatDetails>('POST', '/api/v1/enroll', {
      code: form.code ?? '',
      name: (form.name ?? '').trim(),
      image: form.image ?? '',
      mode: form.mode || undefined,
    });
    if (!result.ok) return { ok: false, message: `Enroll failed: ${result.message}`, redirect: '/' };
    return { ok: true, message: `Enrolled ${result.data.name} on ${result.data.image} v${result.data.version}: the PC boots on within seconds.`, redirect: `/seats/${encodeURIComponent(result.data.name)}` };
  });
  return app;
}
