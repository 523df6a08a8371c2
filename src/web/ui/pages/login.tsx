// First run (set the admin password) and log in. The forms post to ../actions/login.ts.
import { Hono } from 'hono';
import type { Ctx, Env, Ui } from '../kit.js';
import { Layout } from '../layout.js';

export function setupPage(ui: Ui, c: Ctx, error?: string, status: 200 | 400 | 403 = 200) {
  const token = ui.auth.preSessionToken(c);
  return ui.page(
    c,
    <Layout title="Set the admin password" bare notices={error ? [{ kind: 'error', text: error }] : []}>
      <div class="card">
        <p>This box has no admin password yet. Choose one: it protects the web UI on your LAN. At least 10 characters.</p>
        <form method="post" action="/setup">
          <input type="hidden" name="_csrf" value={token} />
          <label for="password">New password</label>
          <input id="password" name="password" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
          <label for="confirm">Repeat it</label>
          <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
          <p>
            <button type="submit">Set password</button>
          </p>
        </form>
      </div>
    </Layout>,
    status,
  );
}

export function loginPage(ui: Ui, c: Ctx, error?: string, status: 200 | 400 | 403 | 429 = 200) {
  const token = ui.auth.preSessionToken(c);
  return ui.page(
    c,
    <Layout title="Log in" bare notices={error ? [{ kind: 'error', text: error }] : []}>
      <div class="card">
        <form method="post" action="/login">
          <input type="hidden" name="_csrf" value={token} />
          <label for="password">Admin password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" maxlength={256} required autofocus />
          <p>
            <button type="submit">Log in</button>
          </p>
        </form>
      </div>
    </Layout>,
    status,
  );
}

export function loginPages(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  const { auth } = ui;
  app.get('/setup', (c) => {
    if (auth.store.isSetUp()) return c.redirect('/login', 303);
    return setupPage(ui, c);
  });
  app.get('/login', (c) => {
    if (!auth.store.isSetUp()) return c.redirect('/setup', 303);
    if (auth.session(c)) return c.redirect('/', 303);
    return loginPage(ui, c);
  });
  return app;
}
