// POST /enroll: a waiting PC becomes a seat (POST /api/v1/enroll).
import { Hono } from 'hono';
import type { SeatDetails } from '../../views.js';
import type { Env, Ui } from '../kit.js';

export function enrollActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/enroll', async (_c, form) => {
    // The "install from ISO" form sends mode=install with an ISO and a disk size, no image:
    // an install seat starts from a blank disk of its own.
    const install = form.mode === 'install';
    const result = await ui.call<SeatDetails>('POST', '/api/v1/enroll', {
      code: form.code ?? '',
      name: (form.name ?? '').trim(),
      mode: form.mode || undefined,
      ...(install ? { size: (form.size ?? '').trim(), ...(form.iso ? { iso: form.iso } : {}) } : { image: form.image ?? '' }),
    });
    if (!result.ok) return { ok: false, message: `Enroll failed: ${result.message}`, redirect: '/' };
    const seat = result.data;
    const message =
      seat.image === null
        ? `Enrolled ${seat.name} with a blank disk: the PC boots ${seat.boot.installIso ? seat.boot.installIso.replace(/^iso:/, '') : 'its DVD or USB installer'} with the disk attached.`
        : `Enrolled ${seat.name} on ${seat.image} v${seat.version}: the PC boots on within seconds.`;
    return { ok: true, message, redirect: `/seats/${encodeURIComponent(seat.name)}` };
  });
  return app;
}
