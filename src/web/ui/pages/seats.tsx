// /seats: every seat with its image, mode, disk use and whether its PC is online (with the
// iSCSI throughput between two views of the page).
import { Hono } from 'hono';
import type { SeatSummary } from '../../views.js';
import type { Env, Ui } from '../kit.js';
import { formatBytes, Layout } from '../layout.js';

export function seatsPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/seats', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const seats = await ui.call<SeatSummary[]>('GET', '/api/v1/seats');
    const list = seats.ok && Array.isArray(seats.data) ? seats.data : [];
    const rates = new Map<string, number | undefined>();
    // One engine call for every online seat's byte counters.
    const bytesByTarget = ui.ctx.sessionBytes();
    for (const s of list) {
      const bytes = bytesByTarget.get(s.targetIqn);
      if (s.sessions > 0 && bytes !== undefined) rates.set(s.name, ui.meter.sample(s.name, bytes));
    }
    const all = ui.notices(session);
    if (!seats.ok) all.push({ kind: 'error', text: seats.message });
    return ui.page(
      c,
      <Layout title="Seats" nav="seats" csrf={session.csrfToken} notices={all}>
        {list.length === 0 ? <p class="muted">No seats yet: enroll a waiting PC from Home.</p> : null}
        <table>
          <thead>
            <tr>
              <th>Seat</th>
              <th>Image</th>
              <th>Mode</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => {
              const rate = rates.get(s.name);
              return (
                <tr>
                  <td>
                    <a href={`/seats/${encodeURIComponent(s.name)}`}>{s.name}</a>
                    <div class="muted mono">{s.mac ?? 'no MAC'}</div>
                  </td>
                  <td>
                    {s.image} v{s.version}
                  </td>
                  <td>
                    {s.mode}
                    {typeof s.deltaBytes === 'number' ? (
                      <div class="muted">
                        {formatBytes(s.deltaBytes)}
                        {typeof s.quotaBytes === 'number' && s.quotaBytes > 0 ? ` / ${formatBytes(s.quotaBytes)}` : ''}
                      </div>
                    ) : null}
                  </td>
                  <td>
                    <span class={`badge ${s.sessions > 0 ? 'on' : 'off'}`}>{s.sessions > 0 ? 'online' : 'offline'}</span>
                    {rate !== undefined ? <div class="muted">{formatBytes(rate)}/s</div> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Layout>,
    );
  });
  return app;
}
