// QR codes as inline SVG (lean-qr, no dependencies): the URL that opens the UI.
import { generate } from 'lean-qr';
import { toSvgSource } from 'lean-qr/extras/svg';

const cache = new Map<string, string>();

export function qrSvg(text: string): string {
  let svg = cache.get(text);
  if (svg === undefined) {
    svg = toSvgSource(generate(text), { on: 'black', off: 'white', pad: 4 });
    if (cache.size > 16) cache.clear();
    cache.set(text, svg);
  }
  return svg;
}

function hostPort(host: string, port: number): string {
  return port === 80 ? host : `${host}:${port}`;
}

/** The URLs a phone can open the UI at: the mDNS name first, then the address. */
export function uiUrls(mdnsName: string | undefined, address: string, port: number): string[] {
  const urls: string[] = [];
  if (mdnsName) urls.push(`http://${hostPort(mdnsName, port)}/`);
  if (address && address !== '0.0.0.0') urls.push(`http://${hostPort(address, port)}/`);
  return urls;
}
