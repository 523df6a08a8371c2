// POST /images/usb-import and /images/usb/:id/release: a USB stick's disk image imported,
// the stick released for removal (both on the images page).
import { Hono } from 'hono';
import type { ImportJobView } from '../../views.js';
import type { Env, Ui } from '../kit.js';

export function usbActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  ui.action(app, '/images/usb-import', async (_c, form) => {
    const result = await ui.call<ImportJobView>('POST', '/api/v1/imports', { image: (form.image ?? '').trim(), usb: { device: form.device ?? '', file: form.file ?? '' } });
    return { ok: result.ok, message: result.ok ? `Import of ${result.data.image} started.` : `Import failed: ${result.message}`, redirect: '/images' };
  });

  ui.action(app, '/images/usb/:id/release', async (c) => {
    const id = c.req.param('id') ?? '';
    const result = await ui.call('POST', `/api/v1/usb/${encodeURIComponent(id)}/release`, {});
    return { ok: result.ok, message: result.ok ? 'The USB stick can be removed now.' : `Release failed: ${result.message}`, redirect: '/images' };
  });
  return app;
}
