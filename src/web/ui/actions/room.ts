// POST /room/wake and /room/reset: the room page's buttons (wake a seat or a group, reset a
// group), each one API call.
import { Hono } from 'hono';
import type { Env, Ui } from '../kit.js';

export function roomActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/room/wake', async (_c, form) => {
    const body = form.group ? { group: form.group } : { seats: [form.seat ?? ''] };
    const result = await ui.call<{ woken: unknown[]; skipped: unknown[] }>('POST', '/api/v1/wake', body);
    if (!result.ok) return { ok: false, message: `wake failed: ${result.message}`, redirect: '/room' };
    const what = form.group ? `group ${form.group}` : `seat ${form.seat}`;
    return { ok: true, message: `Wake sent to ${what}: ${result.data.woken.length} PC(s)${result.data.skipped.length > 0 ? `, ${result.data.skipped.length} without a MAC` : ''}.`, redirect: '/room' };
  });
  ui.action(app, '/room/reset', async (_c, form) => {
    const result = await ui.call<{ done: string[]; failed: { seat: string; error: string }[] }>('POST', `/api/v1/groups/${encodeURIComponent(form.group ?? '')}/reset`);
    if (!result.ok) return { ok: false, message: `reset failed: ${result.message}`, redirect: '/room' };
    const failed = result.data.failed.map((f) => `${f.seat}: ${f.error}`).join('; ');
    return { ok: failed === '', message: `Group ${form.group}: ${result.data.done.length} seat(s) reset.${failed ? ` Failed: ${failed}` : ''}`, redirect: '/room' };
  });
  return app;
}
