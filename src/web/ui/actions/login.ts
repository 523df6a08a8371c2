// POST /setup (first run), /login and /logout. Before a session exists the CSRF token is the
// pre-session cookie's (src/web/auth/web-auth.ts).
import { Hono } from 'hono';
import { LanbootError } from '../../../log/errors.js';
import { checkNewPassword, hashPassword, verifyPassword } from '../../auth/password.js';
import { clientAddressOf, CSRF_FIELD } from '../../auth/web-auth.js';
import type { Env, Ui } from '../kit.js';
import { loginPage, setupPage } from '../pages/login.js';

export function loginActions(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  const { auth, log } = ui;

  app.post('/setup', ui.formLimit, async (c) => {
    if (auth.store.isSetUp()) return c.redirect('/login', 303);
    let form: Record<string, string>;
    try {
      form = await ui.readForm(c);
      auth.checkPreSessionCsrf(c, form[CSRF_FIELD]);
    } catch (error) {
      if (error instanceof LanbootError) return setupPage(ui, c, error.message, error.code === 'LANBOOT_CSRF_REJECTED' ? 403 : 400);
      throw error;
    }
    let password: string;
    try {
      password = checkNewPassword(form.password, form.confirm);
    } catch (error) {
      return setupPage(ui, c, (error as Error).message, 400);
    }
    if (!auth.store.setInitialPassword(await hashPassword(password))) return c.redirect('/login', 303);
    log.info({ client: clientAddressOf(c) }, 'admin password set (first run)');
    auth.startSession(c);
    return c.redirect('/', 303);
  });

  app.post('/login', ui.formLimit, async (c) => {
    if (!auth.store.isSetUp()) return c.redirect('/setup', 303);
    const client = clientAddressOf(c);
    const wait = auth.limiter.waitMs(client);
    if (wait > 0) return loginPage(ui, c, `Too many wrong passwords: wait ${Math.ceil(wait / 1000)} s and try again.`, 429);
    let form: Record<string, string>;
    try {
      form = await ui.readForm(c);
      auth.checkPreSessionCsrf(c, form[CSRF_FIELD]);
    } catch (error) {
      if (error instanceof LanbootError) return loginPage(ui, c, error.message, error.code === 'LANBOOT_CSRF_REJECTED' ? 403 : 400);
      throw error;
    }
    // Counted before the check, with nothing awaited between gate and count: parallel
    // requests from one address cannot all reach scrypt (rate-limit.ts).
    const refused = auth.limiter.beginAttempt(client);
    if (refused > 0) return loginPage(ui, c, `Too many wrong passwords: wait ${Math.ceil(refused / 1000)} s and try again.`, 429);
    const hash = auth.store.passwordHash();
    const password = form.password ?? '';
    if (hash === undefined || !(await verifyPassword(password, hash))) {
      const delay = auth.limiter.waitMs(client);
      log.warn({ client, delayMs: delay }, 'web login: wrong password');
      return loginPage(ui, c, delay > 0 ? `Wrong password. Too many tries: wait ${Math.ceil(delay / 1000)} s before the next one.` : 'Wrong password.', delay > 0 ? 429 : 403);
    }
    auth.limiter.recordSuccess(client);
    auth.startSession(c);
    log.info({ client }, 'web login');
    return c.redirect('/', 303);
  });

  app.post('/logout', ui.formLimit, auth.pageGuard(), async (c) => {
    const form = await ui.readForm(c).catch(() => ({}) as Record<string, string>);
    auth.checkCsrf(c, c.get('session'), form[CSRF_FIELD]);
    auth.endSession(c);
    return c.redirect('/login', 303);
  });
  return app;
}
