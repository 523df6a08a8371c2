// /room: every seat at a glance, by group (a room), with its state (off, booting, up, fault)
// and its last boot; search by name, group, MAC or image; wake or reset a group, wake a seat.
// One API call (/api/v1/room) whatever the number of seats.
import { Hono } from 'hono';
import type { RoomSeatView, RoomView, SeatState } from '../../../history/room.js';
import { bootLabel, HistoryCharts, type HistoryRecord } from '../charts/seat-history.js';
import type { Env, Ui } from '../kit.js';
import { formatBytes, Layout } from '../layout.js';

const STATE_TEXT: Record<SeatState, string> = { off: 'off', booting: 'booting', up: 'up', fault: 'fault' };

function since(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function SeatRow(props: { seat: RoomSeatView; csrf: string }) {
  const s = props.seat;
  const boot = s.lastBoot;
  return (
    <tr data-seat={s.name} data-state={s.state}>
      <td>
        <a href={`/seats/${encodeURIComponent(s.name)}`}>{s.name}</a>
        <div class="muted">
          {s.image === null ? 'blank' : `${s.image} v${s.version}`} · {s.mode}
        </div>
      </td>
      <td>
        <span class={`badge state-${s.state}`}>{STATE_TEXT[s.state]}</span>
        {s.fault ? <div class="muted">{s.fault}</div> : null}
      </td>
      <td class="muted">
        {boot ? (
          <>
            {since(boot.startedAt)}
            {boot.firstWriteMs !== null ? <div>up in {(boot.firstWriteMs / 1000).toFixed(1)} s</div> : boot.loginMs !== null ? <div>disk in {(boot.loginMs / 1000).toFixed(1)} s</div> : null}
            <div>
              <a href={`/seats/${encodeURIComponent(s.name)}/history`}>history</a>
            </div>
          </>
        ) : (
          'never booted'
        )}
      </td>
      <td>
        {s.mac !== null && s.state !== 'up' ? (
          <form class="inline" method="post" action="/room/wake">
            <input type="hidden" name="_csrf" value={props.csrf} />
            <input type="hidden" name="seat" value={s.name} />
            <button class="secondary" type="submit" aria-label={`Wake ${s.name}`}>
              Wake
            </button>
          </form>
        ) : null}
      </td>
    </tr>
  );
}

export function roomPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/room', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const q = (c.req.query('q') ?? '').slice(0, 64);
    const result = await ui.call<RoomView>('GET', `/api/v1/room${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    const notices = ui.notices(session);
    if (!result.ok) notices.push({ kind: 'error', text: result.message });
    const room: RoomView = result.ok ? result.data : { groups: [], counts: { off: 0, booting: 0, up: 0, fault: 0 } };
    const csrf = session.csrfToken;
    return ui.page(
      c,
      <Layout title="Room" nav="room" csrf={csrf} notices={notices}>
        <form method="get" action="/room" class="row search" role="search">
          <input type="text" name="q" value={q} placeholder="Search seat, group, MAC, image" aria-label="Search seats" maxlength={64} />
          <button type="submit">Search</button>
        </form>
        <p class="row counts">
          {(['up', 'booting', 'fault', 'off'] as SeatState[]).map((state) => (
            <span class={`badge state-${state}`}>
              {room.counts[state]} {STATE_TEXT[state]}
            </span>
          ))}
        </p>
        {room.groups.length === 0 ? <p class="muted">{q ? 'No seat matches.' : 'No seats yet: enroll a waiting PC from Home.'}</p> : null}
        {room.groups.map((g) => (
          <section class="group card" data-group={g.name ?? ''}>
            <h2>
              {g.name ?? 'No group'} <span class="muted">({g.seats.length} seats: {g.counts.up} up, {g.counts.fault} fault)</span>
            </h2>
            {g.name !== null ? (
              <div class="row">
                <form class="inline" method="post" action="/room/wake">
                  <input type="hidden" name="_csrf" value={csrf} />
                  <input type="hidden" name="group" value={g.name} />
                  <button type="submit">Wake group</button>
                </form>
                <form class="inline" method="post" action="/room/reset">
                  <input type="hidden" name="_csrf" value={csrf} />
                  <input type="hidden" name="group" value={g.name} />
                  <button class="secondary" type="submit">
                    Reset group
                  </button>
                </form>
              </div>
            ) : null}
            <table>
              <tbody>
                {g.seats.map((s) => (
                  <SeatRow seat={s} csrf={csrf} />
                ))}
              </tbody>
            </table>
          </section>
        ))}
        <p class="muted">
          <a href="/api/v1/history?format=csv">Boot history (CSV)</a> · <a href="/api/v1/history">JSON</a>
        </p>
      </Layout>,
    );
  });

  app.get('/seats/:name/history', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const name = c.req.param('name');
    const result = await ui.call<HistoryRecord[]>('GET', `/api/v1/history?seat=${encodeURIComponent(name)}&days=30`);
    if (!result.ok) {
      const notices = [{ kind: 'error' as const, text: result.message }];
      return ui.page(c, <Layout title="Boot history" nav="room" csrf={session.csrfToken} notices={notices} />, result.status === 404 ? 404 : 400);
    }
    const records = result.data.slice(-30);
    const label = bootLabel;
    const seatUrl = `/seats/${encodeURIComponent(name)}`;
    return ui.page(
      c,
      <Layout title={`Boot history of ${name}`} nav="room" csrf={session.csrfToken} notices={ui.notices(session)}>
        <p>
          <a href={seatUrl}>Back to the seat</a> · <a href={`/api/v1/history?seat=${encodeURIComponent(name)}&format=csv`}>CSV</a> ·{' '}
          <a href={`/api/v1/history?seat=${encodeURIComponent(name)}`}>JSON</a>
        </p>
        {records.length === 0 ? <p class="muted">No boots recorded in the last 30 days.</p> : null}
        <div class="card">
          <HistoryCharts records={records} />
        </div>
        <table>
          <thead>
            <tr>
              <th>Started (UTC)</th>
              <th>Login</th>
              <th>1st write</th>
              <th>Read / written</th>
            </tr>
          </thead>
          <tbody>
            {[...records].reverse().slice(0, 10).map((r) => (
              <tr>
                <td>{label(r)}</td>
                <td>{r.loginAt === null ? r.fault ?? '-' : `${((r.loginAt - Date.parse(r.startedAt)) / 1000).toFixed(1)} s`}</td>
                <td>{r.firstWriteAt === null ? '-' : `${((r.firstWriteAt - Date.parse(r.startedAt)) / 1000).toFixed(1)} s`}</td>
                <td>
                  {formatBytes(r.bytesRead)} / {formatBytes(r.bytesWritten)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Layout>,
    );
  });
  return app;
}
