// /network: DHCP mode and the other DHCP servers seen on the LAN, this box's interfaces and
// where it listens. The DHCP routes exist only when the DHCP service is built.
import os from 'node:os';
import { Hono } from 'hono';
import type { Env, Ui } from '../kit.js';
import { Layout, timeAgo, type Notice } from '../layout.js';
import { statusWarnings, type DetectedServer } from '../status.js';

export function networkPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/network', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const status = await ui.call<Record<string, unknown>>('GET', '/api/v1/status');
    const dhcp = ui.hasApiRoute('GET', '/api/v1/dhcp') ? await ui.call<Record<string, unknown>>('GET', '/api/v1/dhcp') : undefined;
    const s = status.ok ? status.data : {};
    const dhcpStatus = (dhcp?.ok ? dhcp.data : (s.dhcp as Record<string, unknown> | undefined)) ?? {};
    const detection = dhcpStatus.detection as { at?: string; servers?: DetectedServer[] } | null | undefined;
    const interfaces = Object.entries(os.networkInterfaces()).flatMap(([name, addrs]) =>
      (addrs ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ name, address: a.address, cidr: a.cidr ?? a.address, internal: a.internal })),
    );
    const all: Notice[] = [...ui.notices(session), ...statusWarnings(s).map((w) => ({ kind: 'warn' as const, text: w.message }))];
    return ui.page(
      c,
      <Layout title="Network" nav="network" csrf={session.csrfToken} notices={all}>
        <h2>DHCP</h2>
        <div class="card">
          <div>
            mode <strong>{String(dhcpStatus.mode ?? (s.dhcp as { mode?: string } | undefined)?.mode ?? 'off')}</strong> on{' '}
            <span class="mono">{String(dhcpStatus.interface ?? 'no interface')}</span> ·{' '}
            {dhcpStatus.running ? <span class="badge on">running</span> : <span class="badge off">not running</span>}
          </div>
          <h2>Other DHCP servers seen</h2>
          {detection && Array.isArray(detection.servers) && detection.servers.length > 0 ? (
            <ul>
              {detection.servers.map((srv) => (
                <li>
                  <span class="mono">{String(srv.serverId ?? srv.from ?? '?')}</span>{' '}
                  <span class="muted">
                    {srv.offersAddress ? `offers addresses${srv.offeredAddress ? ` (${srv.offeredAddress})` : ''}` : 'proxy only'}
                    {srv.pxe ? ` · hands out boot information${srv.bootFile ? ` (${srv.bootFile})` : ''}: PCs may boot the wrong thing` : ''}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">{detection ? `none (checked ${timeAgo(detection.at)})` : 'not checked yet'}</p>
          )}
          {ui.hasApiRoute('POST', '/api/v1/dhcp/detect') ? (
            <form method="post" action="/network/detect">
              <input type="hidden" name="_csrf" value={session.csrfToken} />
              <button class="secondary" type="submit">
                Look for DHCP servers now
              </button>
            </form>
          ) : null}
        </div>
        <h2>Interfaces</h2>
        <table>
          <tbody>
            {interfaces.map((i) => (
              <tr>
                <td>{i.name}</td>
                <td class="mono">{i.cidr}</td>
                <td class="muted">{i.internal ? 'loopback' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>Listening</h2>
        <div class="card mono">
          HTTP {String((s.http as { host?: string; port?: number } | undefined)?.host ?? '')}:{String((s.http as { port?: number } | undefined)?.port ?? '')} · iSCSI portal {String(s.portal ?? '')}
        </div>
        <h2>Admin password</h2>
        <div class="card">
          <a href="/password">Change the admin password</a>
        </div>
      </Layout>,
    );
  });
  return app;
}
