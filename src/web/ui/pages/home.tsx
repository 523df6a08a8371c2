// Home (/): PCs waiting to be enrolled first, each with its enroll form (../actions/enroll.ts),
// then a summary and this page's address as a QR code for a phone.
import { Hono } from 'hono';
import { archName } from '../../../boot/arch.js';
import type { ImageView, IsoListEntry, WaitingPcView } from '../../views.js';
import { plural, type Env, type Ui } from '../kit.js';
import { Layout, timeAgo, type Notice } from '../layout.js';
import { Qr, statusWarnings, urlsFor } from '../status.js';

export function homePage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    // Counts come from status: listing every seat here would cost a stat per seat.
    const [status, waiting, images, isos] = await Promise.all([
      ui.call<Record<string, unknown>>('GET', '/api/v1/status'),
      ui.call<WaitingPcView[]>('GET', '/api/v1/waiting'),
      ui.call<ImageView[]>('GET', '/api/v1/images'),
      ui.call<IsoListEntry[]>('GET', '/api/v1/isos'),
    ]);
    const isoList = isos.ok && Array.isArray(isos.data) ? isos.data : [];
    const pcs = waiting.ok && Array.isArray(waiting.data) ? waiting.data : [];
    const imageList = images.ok && Array.isArray(images.data) ? images.data : [];
    const seatCount = status.ok && typeof status.data.seats === 'number' ? status.data.seats : 0;
    const sessionCount = status.ok && typeof status.data.sessions === 'number' ? status.data.sessions : 0;
    const warnings = status.ok ? statusWarnings(status.data) : [];
    const all: Notice[] = [...ui.notices(session), ...warnings.map((w) => ({ kind: 'warn' as const, text: w.message }))];
    if (!waiting.ok) all.push({ kind: 'error', text: `waiting PCs: ${waiting.message}` });
    const now = Date.now();
    return ui.page(
      c,
      <Layout title="Home" nav="home" csrf={session.csrfToken} notices={all} script>
        <section id="waiting" data-codes={pcs.map((pc) => pc.code).sort().join(',')}>
        <h2>Waiting PCs ({pcs.length})</h2>
        {pcs.length === 0 ? (
          <p class="muted">No PC is waiting. Network-boot a PC on this LAN: it shows a code here and on its screen.</p>
        ) : null}
        {imageList.length === 0 && isoList.length === 0 && pcs.length > 0 ? <div class="notice warn">Import a golden image or an installer ISO first (Images), then enroll.</div> : null}
        {pcs.map((pc) => (
          <div class="card waiting" data-mac={pc.mac}>
            <div class="row">
              <span class="code">{pc.code}</span>
              <span class="badge">{archName(pc.arch)}</span>
            </div>
            <div class="mono">{pc.mac}</div>
            <div class="muted">
              {pc.vendorClass ?? 'no vendor class'} · first seen {timeAgo(pc.firstSeen, now)}
            </div>
            <form method="post" action="/enroll">
              <input type="hidden" name="_csrf" value={session.csrfToken} />
              <input type="hidden" name="code" value={pc.code} />
              <label for={`name-${pc.code}`}>Name</label>
              <input id={`name-${pc.code}`} name="name" type="text" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="pc-1" autocapitalize="off" />
              <label for={`image-${pc.code}`}>Image</label>
              <select id={`image-${pc.code}`} name="image" required>
                {imageList.map((i) => (
                  <option value={i.name}>{`${i.name} (v${i.currentVersion ?? i.latestVersion})`}</option>
                ))}
              </select>
              <label for={`mode-${pc.code}`}>Mode</label>
              <select id={`mode-${pc.code}`} name="mode">
                <option value="fresh">fresh (clean at every boot)</option>
                <option value="persistent">persistent (keeps changes)</option>
                <option value="maintenance">maintenance (changes become the next version)</option>
              </select>
              <p>
                <button type="submit">Enroll {pc.code}</button>
              </p>
            </form>
            <details class="install">
              <summary>Install from ISO</summary>
              <form method="post" action="/enroll">
                <input type="hidden" name="_csrf" value={session.csrfToken} />
                <input type="hidden" name="code" value={pc.code} />
                <input type="hidden" name="mode" value="install" />
                <label for={`iname-${pc.code}`}>Name</label>
                <input id={`iname-${pc.code}`} name="name" type="text" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="pc-1" autocapitalize="off" />
                <label for={`iso-${pc.code}`}>Installer ISO</label>
                <select id={`iso-${pc.code}`} name="iso">
                  {isoList.map((iso) => (
                    <option value={`${iso.image}/${iso.fileName}`}>{`${iso.image}/${iso.fileName}`}</option>
                  ))}
                  <option value="">none: the PC's own DVD or USB stick</option>
                </select>
                <label for={`size-${pc.code}`}>Disk size</label>
                <input id={`size-${pc.code}`} name="size" type="text" required maxlength={16} placeholder="64G" autocapitalize="off" />
                <p class="muted">The PC boots the installer with this seat's blank disk attached; once the installer has made the disk bootable, the PC boots the disk (the installer stays in its boot menu).</p>
                <p>
                  <button type="submit">Install on {pc.code}</button>
                </p>
              </form>
            </details>
          </div>
        ))}
        </section>
        <h2>Summary</h2>
        <div class="card">
          <div>
            <a href="/seats">{plural(seatCount, 'seat')}</a>, {plural(sessionCount, 'iSCSI session')} · <a href="/images">{plural(imageList.length, 'image')}</a>
          </div>
          {status.ok ? (
            <div class="muted">
              DHCP {(status.data.dhcp as { mode?: string } | undefined)?.mode ?? '?'} · version {String(status.data.version ?? '')}
            </div>
          ) : null}
        </div>
        <h2>Open this page on a phone</h2>
        <div class="card">
          {status.ok
            ? (() => {
                const urls = urlsFor(status.data);
                // Live on this page: the address form works on every phone (Android before 12
                // resolves no .local names); the name is listed under it.
                return <Qr urls={urls} coded={urls.slice(-1)} />;
              })()
            : null}
        </div>
      </Layout>,
    );
  });
  return app;
}
