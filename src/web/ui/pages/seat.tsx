// /seats/:name: one seat: its disk, sessions, the actions on it (../actions/seat.ts), its
// snapshots and its last boot's steps.
import { Hono } from 'hono';
import type { BootEventView, IsoListEntry, SeatDetails, SnapshotView } from '../../views.js';
import { SeatBootCharts } from '../charts/seat-history.js';
import type { Env, Ui } from '../kit.js';
import { formatBytes, Layout, timeAgo } from '../layout.js';

export function seatPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/seats/:name', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const name = c.req.param('name');
    const seat = await ui.call<SeatDetails>('GET', `/api/v1/seats/${encodeURIComponent(name)}`);
    if (!seat.ok) {
      return ui.page(
        c,
        <Layout title="Seat" nav="seats" csrf={session.csrfToken} notices={[...ui.notices(session), { kind: 'error', text: seat.message }]}>
          <a href="/seats">Back to seats</a>
        </Layout>,
        seat.status === 404 ? 404 : 400,
      );
    }
    const s = seat.data;
    const base = `/seats/${encodeURIComponent(s.name)}`;
    const [events, snapshots, isos] = await Promise.all([
      s.mac ? ui.call<BootEventView[]>('GET', `/api/v1/boot-events?mac=${encodeURIComponent(s.mac)}`) : Promise.resolve(undefined),
      ui.call<SnapshotView[]>('GET', `/api/v1/seats/${encodeURIComponent(s.name)}/snapshots`),
      ui.call<IsoListEntry[]>('GET', '/api/v1/isos'),
    ]);
    const isoNames = isos.ok && Array.isArray(isos.data) ? isos.data.map((iso) => `${iso.image}/${iso.fileName}`) : [];
    const boot = s.boot;
    const choiceText = (choice: string) => (choice === 'disk' ? 'its disk' : choice === 'local' ? "the PC's own disk" : choice === 'menu' ? 'the boot menu' : choice.replace(/^iso:/, ''));
    const sessions = Array.isArray(s.sessions) ? s.sessions : [];
    const bytes = sessions.reduce((sum, x) => sum + (x.bytesRead ?? 0) + (x.bytesWritten ?? 0), 0);
    const rate = sessions.length > 0 ? ui.meter.sample(s.name, bytes) : undefined;
    const Button = (props: { act: string; text: string; danger?: boolean; confirm?: string; children?: unknown }) => (
      <form class="inline" method="post" action={`${base}/${props.act}`}>
        <input type="hidden" name="_csrf" value={session.csrfToken} />
        {props.children as never}
        <button type="submit" class={props.danger ? 'danger' : 'secondary'}>
          {props.text}
        </button>
      </form>
    );
    return ui.page(
      c,
      <Layout title={`Seat ${s.name}`} nav="seats" csrf={session.csrfToken} notices={ui.notices(session)}>
        <div class="card">
          <div class="row">
            <span class={`badge ${sessions.length > 0 ? 'on' : 'off'}`}>{sessions.length > 0 ? 'online' : 'offline'}</span>
            <span>
              {s.image === null ? `blank disk, ${formatBytes(s.diskBytes ?? null)}` : `${s.image} v${s.version}`}
              {s.image !== null && s.latestVersion !== null && s.latestVersion !== s.version ? ` (v${s.latestVersion} available)` : ''}
            </span>
            <span class="badge">{s.mode}</span>
          </div>
          {boot.once !== null ? (
            <div class="notice warn pending">
              Next boot: {choiceText(boot.once)} (once, then as usual)
            </div>
          ) : null}
          {s.mode === 'install' ? (
            <div class="muted install-state">
              Installer: {boot.installIso ? boot.installIso.replace(/^iso:/, '') : "the PC's DVD or USB stick"} ·{' '}
              {boot.diskBootable ? 'disk bootable: the PC boots its disk (installer in the menu)' : 'disk blank: the PC boots the installer'}
            </div>
          ) : null}
          <div class="mono">{s.mac ?? 'no MAC'}</div>
          <div class="muted">
            delta {formatBytes(s.deltaBytes ?? null)}
            {s.quotaBytes ? ` of ${formatBytes(s.quotaBytes)} quota` : ''}
            {rate !== undefined ? ` · ${formatBytes(rate)}/s` : ''}
          </div>
          {sessions.map((x) => (
            <div class="muted">
              iSCSI from {x.remoteAddress} since {timeAgo(x.connectedAt)}: read {formatBytes(x.bytesRead)}, written {formatBytes(x.bytesWritten)}
            </div>
          ))}
        </div>
        <h2>Actions</h2>
        <div class="actions">
          <Button act="reset" text="Reset to golden" />
          <Button act="move" text="Move to current version" />
          <Button act="snapshot" text="Snapshot">
            <input type="text" name="label" maxlength={64} placeholder="label (optional)" aria-label="snapshot label" />
          </Button>
          {s.mode === 'maintenance' ? <Button act="commit" text={`Commit as a new version of ${s.image}`} /> : null}
          {s.mode === 'install' ? (
            <Button act="commit" text="Commit as image">
              <input type="text" name="image" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="image name" aria-label="image name" autocapitalize="off" />
            </Button>
          ) : null}
          {s.mode !== 'install' ? (
            // install is a way a seat starts (a blank disk), not a mode to switch to; an
            // install seat leaves it through its commit.
            <Button act="mode" text="Set mode">
              <select name="mode" aria-label="mode">
                {['fresh', 'persistent', 'maintenance'].map((m) => (
                  <option value={m} selected={m === s.mode}>
                    {m}
                  </option>
                ))}
              </select>
            </Button>
          ) : null}
          <Button act="quota" text="Set quota">
            <input type="text" name="quota" maxlength={16} placeholder="e.g. 20G, or none" aria-label="quota" />
          </Button>
          <Button act="remove" text="Remove seat" danger>
            <label class="muted">
              <input type="checkbox" name="confirm" value="yes" required /> remove {s.name} and its disk
            </label>
          </Button>
        </div>
        <h2>Boot</h2>
        <div class="actions boot">
          <Button act="boot" text="Set next boot">
            <select name="once" aria-label="next boot">
              <option value="none" selected={boot.once === null}>
                as usual
              </option>
              {['disk', 'menu', 'local', ...isoNames.map((n) => `iso:${n}`)].map((choice) => (
                <option value={choice} selected={boot.once === choice}>
                  {`once: ${choiceText(choice)}`}
                </option>
              ))}
            </select>
          </Button>
          <Button act="menu" text="Set boot menu">
            <select name="menu" aria-label="boot menu">
              {[
                ['default', 'menu: as the box'],
                ['on', 'menu: on'],
                ['off', 'menu: off'],
              ].map(([value, text]) => (
                <option value={value} selected={(boot.menu ?? 'default') === value}>
                  {text}
                </option>
              ))}
            </select>
            <input type="text" name="timeout" inputmode="numeric" maxlength={4} placeholder="timeout s" aria-label="menu timeout in seconds" value={boot.menuTimeout === null ? '' : String(boot.menuTimeout)} />
            <select name="default" aria-label="menu default">
              {['disk', 'local', ...isoNames.map((n) => `iso:${n}`)].map((choice) => (
                <option value={choice} selected={boot.menuDefault === choice}>
                  {`default: ${choiceText(choice)}`}
                </option>
              ))}
            </select>
          </Button>
        </div>
        {snapshots.ok && Array.isArray(snapshots.data) ? (
          <>
            <h2>Snapshots</h2>
            {snapshots.data.length === 0 ? <p class="muted">none</p> : null}
            <ul class="timeline">
              {snapshots.data.map((snap) => (
                <li>
                  <strong>#{String(snap.number)}</strong> {snap.label ?? ''}{' '}
                  <span class="muted">
                    {timeAgo(snap.createdAt)} · v{String(snap.version ?? '?')} · {formatBytes(snap.deltaBytes ?? null)}
                  </span>{' '}
                  <Button act="restore" text="Restore">
                    <input type="hidden" name="snapshot" value={String(snap.number)} />
                  </Button>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <h2>Last boot</h2>
        {events?.ok && Array.isArray(events.data) && events.data.length > 0 ? (
          <ul class="timeline boot">
            {events.data.map((e) => (
              <li>
                <strong>{e.step}</strong> <span class="muted">{timeAgo(e.lastAt)}{e.count > 1 ? ` ×${e.count}` : ''}</span>
                <div class="muted">{e.detail}</div>
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No boot recorded yet.</p>
        )}
        <SeatBootCharts ui={ui} name={s.name} />
      </Layout>,
    );
  });
  return app;
}
