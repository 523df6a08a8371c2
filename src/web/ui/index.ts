// The web UI: server-rendered hono/jsx pages (./pages) with plain HTML forms whose POST
// handlers are in ./actions, readable without JavaScript (only the upload progress bar needs
// it). Every page reads and changes state through the same /api/v1 router the CLI uses (in
// process, Ui.call), so the UI can do exactly what the API allows, with the API's validation
// and error messages.
import type { Hono } from 'hono';
import { enrollActions } from './actions/enroll.js';
import { imageActions } from './actions/images.js';
import { loginActions } from './actions/login.js';
import { networkActions } from './actions/network.js';
import { passwordActions } from './actions/password.js';
import { roomActions } from './actions/room.js';
import { seatActions } from './actions/seat.js';
import { usbActions } from './actions/usb.js';
import { CSS_PATH, JS_PATH, UI_CSS, UI_JS } from './assets.js';
import { Ui, type Env, type UiDeps } from './kit.js';
import { homePage } from './pages/home.js';
import { imagesPage } from './pages/images.js';
import { labelPage } from './pages/label.js';
import { loginPages } from './pages/login.js';
import { networkPage } from './pages/network.js';
import { passwordPages } from './pages/password.js';
import { roomPage } from './pages/room.js';
import { seatPage } from './pages/seat.js';
import { seatsPage } from './pages/seats.js';

export type { UiDeps } from './kit.js';

export function mountUi(app: Hono, deps: UiDeps): void {
  const http = app as unknown as Hono<Env>;
  const ui = new Ui(deps);

  // Static assets are public: they reveal nothing.
  http.get('/assets/:file', (c) => {
    const path = c.req.path;
    const cache = { 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' };
    if (path === CSS_PATH) return c.body(UI_CSS, 200, { ...cache, 'content-type': 'text/css; charset=utf-8' });
    if (path === JS_PATH) return c.body(UI_JS, 200, { ...cache, 'content-type': 'text/javascript; charset=utf-8' });
    return c.text('not found', 404);
  });

  for (const part of [
    loginPages(ui),
    loginActions(ui),
    homePage(ui),
    enrollActions(ui),
    seatsPage(ui),
    seatPage(ui),
    seatActions(ui),
    roomPage(ui),
    roomActions(ui),
    imagesPage(ui),
    imageActions(ui),
    usbActions(ui),
    networkPage(ui),
    networkActions(ui),
    passwordPages(ui),
    passwordActions(ui),
    labelPage(ui),
  ]) {
    http.route('/', part);
  }
}
