// /api/v1/admin: the web UI's admin password, set from the box itself. Only the local API
// socket (the CLI) may call it: its file mode is the proof of being the box's owner, where a
// LAN session must give the current password on the settings form instead.
import { Hono } from 'hono';
import { LanbootError } from '../../log/errors.js';
import { checkNewPassword, hashPassword } from '../auth/password.js';
import { AuthStore } from '../auth/sessions.js';
import { apiOriginOf, type AppContext } from '../context.js';
import { checkFields, jsonBodyLimit, readJsonObject } from '../json.js';

export function adminRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const store = new AuthStore(ctx.db);
  app.put('/password', jsonBodyLimit, async (c) => {
    if (apiOriginOf(c) !== 'local') {
      throw new LanbootError('LANBOOT_LOCAL_ONLY', 'the admin password is changed from the box (lanboot password set) or on the web UI settings page');
    }
    const body = await readJsonObject(c);
    checkFields(body, ['password']);
    const password = checkNewPassword(body.password, body.password);
    const hash = await hashPassword(password);
    // First run from the CLI sets it; afterwards every web session ends with the change.
    const first = store.setInitialPassword(hash);
    if (!first) store.changePassword(hash);
    ctx.logger.child({ component: 'web' }).info({ client: 'local' }, first ? 'admin password set (CLI)' : 'admin password changed (CLI), web sessions ended');
    return c.json({ changed: true, sessionsEnded: !first });
  });
  return app;
}
