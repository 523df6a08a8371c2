// POST /password: change the admin password (session + CSRF + the current password). The
// current-password check shares the login rate limit per client address, counted before the
// check like a login, so this form is no side door for guessing.
import { Hono } from 'hono';
import { LanbootError } from '../../../log/errors.js';
import { checkNewPassword, hashPassword, verifyPassword } from '../../auth/password.js';
import { clientAddressOf, CSRF_FIELD } from '../../auth/web-auth.js';
import type { Env, Ui } from '../kit.js';
import { passwordPage } from '../pages/password.js';

export function passwordActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  const { auth, log } = ui;
  app.post('/password', ui.formLimit, auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const client = clientAddressOf(c);
    const form = await ui.readForm(c).catch(() => ({}) as Record<string, string>);
    auth.checkCsrf(c, session, form[CSRF_FIELD]);
    const refused = auth.limiter.beginAttempt(client);
    if (refused > 0) return passwordPage(ui, c, session, [{ kind: 'error', text: `Too many wrong passwords: wait ${Math.ceil(refused / 1000)} s and try again.` }], 429);
    const hash = auth.store.passwordHash();
    if (hash === undefined || !(await verifyPassword(form.current ?? '', hash))) {
      log.warn({ client }, 'admin password change: wrong current password');
      return passwordPage(ui, c, session, [{ kind: 'error', text: 'The current password is wrong.' }], 403);
    }
    auth.limiter.recordSuccess(client);
    let password: string;
    try {
      password = checkNewPassword(form.password, form.confirm);
    } catch (error) {
      if (error instanceof LanbootError) return passwordPage(ui, c, session, [{ kind: 'error', text: error.message }], 400);
      throw error;
    }
    auth.store.changePassword(await hashPassword(password));
    auth.endSession(c);
    log.info({ client }, 'admin password changed (web), every session ended');
    return c.redirect('/login', 303);
  });
  return app;
}
