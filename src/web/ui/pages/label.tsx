// /label: this UI's addresses as QR codes, to print and stick on the box.
import { Hono } from 'hono';
import type { Env, Ui } from '../kit.js';
import { Layout } from '../layout.js';
import { Qr, urlsFor } from '../status.js';

export function labelPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/label', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const status = await ui.call<Record<string, unknown>>('GET', '/api/v1/status');
    return ui.page(
      c,
      <Layout title="Scan to manage this box" nav="label" csrf={session.csrfToken} notices={ui.notices(session)}>
        <div class="card label">{status.ok ? <Qr urls={urlsFor(status.data)} coded={urlsFor(status.data)} /> : null}</div>
        <p class="muted">
          Print this page and stick it on the box. A .local name stays valid when the box gets another address from the router; the address also works on phones that
          resolve no .local names.
        </p>
      </Layout>,
    );
  });
  return app;
}
