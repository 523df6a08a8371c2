// The page frame: header, navigation, flash notice. Server-rendered hono/jsx; every value is
// escaped by the JSX runtime (only the QR code's SVG, which we generate, is inserted raw).
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { CSS_PATH, JS_PATH } from './assets.js';

export type NavKey = 'home' | 'seats' | 'room' | 'images' | 'network' | 'label' | 'none';

export interface Notice {
  kind: 'ok' | 'error' | 'warn';
  text: string;
}

export function Layout(props: { title: string; nav?: NavKey; csrf?: string; notices?: Notice[]; children?: Child; script?: boolean; bare?: boolean }) {
  const nav = props.nav ?? 'none';
  const link = (key: NavKey, href: string, text: string) => (
    <a href={href} aria-current={nav === key ? 'page' : undefined}>
      {text}
    </a>
  );
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{`${props.title} · lanboot`}</title>
        <link rel="stylesheet" href={CSS_PATH} />
      </head>
      <body>
        <header>
          <a class="brand" href="/">
            lanboot
          </a>
          {props.csrf ? (
            <form class="inline" method="post" action="/logout">
              <input type="hidden" name="_csrf" value={props.csrf} />
              <button class="secondary" type="submit">
                Log out
              </button>
            </form>
          ) : null}
        </header>
        {props.bare ? null : (
          <nav>
            {link('home', '/', 'Home')}
            {link('seats', '/seats', 'Seats')}
            {link('room', '/room', 'Room')}
            {link('images', '/images', 'Images')}
            {link('network', '/network', 'Network')}
            {link('label', '/label', 'QR')}
          </nav>
        )}
        <main>
          <h1>{props.title}</h1>
          {(props.notices ?? []).map((n) => (
            <div class={`notice ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
              {n.text}
            </div>
          ))}
          {props.children}
        </main>
        {props.script ? <script src={JS_PATH} defer></script> : null}
      </body>
    </html>
    </>
  );
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function timeAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
