// /password: change the admin password from a logged-in phone. The form posts to
// ../actions/password.ts; it asks for the current password too, so a phone left logged in
// is not enough to lock the owner out.
import { Hono } from 'hono';
import type { Ctx, Env, Ui } from '../kit.js';
import { Layout, type Notice } from '../layout.js';
import type { Session } from '../../auth/sessions.js';

export function passwordPage(ui: Ui, c: Ctx, session: Session, notices: Notice[], status: 200 | 400 | 403 | 429 = 200) {
  return ui.page(
    c,
    <Layout title="Admin password" nav="network" csrf={session.csrfToken} notices={notices}>
      <div class="card">
        <p>Changing the password logs out every phone and browser, this one included. At least 10 characters.</p>
        <form method="post" action="/password">
          <input type="hidden" name="_csrf" value={session.csrfToken} />
          <label for="current">Current password</label>
          <input id="current" name="current" type="password" autocomplete="current-password" maxlength={256} required />
          <label for="password">New password</label>
          <input id="password" name="password" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
          <label for="confirm">Repeat it</label>
          <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
          <p>
            <button type="submit">Change password</button>
          </p>
        </form>
      </div>
    </Layout>,
    status,
  );
}

export function passwordPages(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/password', ui.auth.pageGuard(), (c) => {
    const session = c.get('session');
    return passwordPage(ui, c, session, ui.notices(session));
  });
  return app;
}
