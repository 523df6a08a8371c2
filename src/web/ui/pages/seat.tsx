// /seats/:name: one seat: its disk, sessions, the actions on it (../actions/seat.ts), its
// snapshots and its last boot's steps.
import { Hono } from 'hono';
import type { BootEventView, SeatDetails, SnapshotView } from '../../views.js';
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
    const [events, snapshots] = await Promise.all([
      s.mac ? ui.call<BootEventView[]>('GET', `/api/v1/boot-events?mac=${encodeURIComponent(s.mac)}`) : Promise.resolve(undefined),
      ui.call<SnapshotView[]>('GET', `/api/v1/seats/${encodeURIComponent(s.name)}/snapshots`),
    ]);
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
              {s.image} v{s.version}
              {s.latestVersion !== undefined && s.latestVersion !== s.version ? ` (v${s.latestVersion} available)` : ''}
            </span>
            <span class="badge">{s.mode}</span>
          </div>
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
          <Button act="mode" text="Set mode">
            <select name="mode" aria-label="mode">
              {['fresh', 'persistent', 'maintenance', 'install'].map((m) => (
                <option value={m} selected={m === s.mode}>
                  {m}
                </option>
              ))}
            </select>
          </Button>
          <Button act="quota" text="Set quota">
            <input type="text" name="quota" maxlength={16} placeholder="e.g. 20G, or none" aria-label="quota" />
          </Button>
          <Button act="remove" text="Remove seat" danger>
            <label class="muted">
              <input type="checkbox" name="confirm" value="yes" required /> remove {s.name} and its disk
            </label>
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
