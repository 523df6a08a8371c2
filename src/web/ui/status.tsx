// Pieces of /api/v1/status that several pages show: warnings for the user and the URLs of
// this UI (as text and QR codes).
import { raw } from 'hono/html';
import { qrSvg, uiUrls } from './qr.js';

export interface DetectedServer {
  serverId?: string;
  from?: string;
  offersAddress?: boolean;
  offeredAddress?: string;
  pxe?: boolean;
  bootFile?: string;
}

export interface Warning {
  code?: string;
  message: string;
}

export function statusWarnings(status: Record<string, unknown>): Warning[] {
  const warnings: Warning[] = [];
  const listed = status.warnings;
  if (Array.isArray(listed)) for (const w of listed) if (w && typeof (w as Warning).message === 'string') warnings.push(w as Warning);
  const dhcp = (status.services as Record<string, unknown> | undefined)?.dhcp as { mode?: string; detection?: { servers?: DetectedServer[] } | null } | undefined;
  for (const server of dhcp?.detection?.servers ?? []) {
    const who = String(server.serverId ?? server.from ?? '?');
    // Two answers with boot information: the PC takes whichever comes first (troubleshooting.md).
    if (server.pxe) warnings.push({ code: 'DHCP_OTHER_PXE', message: `Another DHCP server (${who}) hands out network-boot information${server.bootFile ? ` (${server.bootFile})` : ''}: PCs may boot the wrong thing. Turn its PXE option off.` });
    else if (server.offersAddress && dhcp?.mode === 'full') warnings.push({ code: 'DHCP_OTHER_SERVER', message: `Another DHCP server (${who}) hands out addresses next to lanboot's full DHCP.` });
  }
  return warnings;
}

export function urlsFor(status: Record<string, unknown>): string[] {
  const port = (status.http as { port?: number } | undefined)?.port ?? 80;
  const portal = typeof status.portal === 'string' ? status.portal : '';
  const address = portal.includes(':') ? portal.slice(0, portal.lastIndexOf(':')) : portal;
  // The mDNS name only when the box answers to it (src/discovery; null while off).
  const mdns = (status.services as Record<string, { hostname?: unknown } | undefined> | undefined)?.mdns;
  const name = typeof mdns?.hostname === 'string' ? mdns.hostname : undefined;
  return uiUrls(name, address, port);
}

/** One QR code per URL in `coded`, then every URL as text. */
export function Qr(props: { urls: string[]; coded: string[] }) {
  if (props.urls.length === 0) return null;
  return (
    <div class="qr">
      {props.coded.map((u) => (
        <figure>
          {raw(qrSvg(u))}
          <figcaption class="mono">{u}</figcaption>
        </figure>
      ))}
      {props.urls
        .filter((u) => !props.coded.includes(u))
        .map((u) => (
          <div class="mono">{u}</div>
        ))}
    </div>
  );
}
