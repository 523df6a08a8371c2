// The LAN boot routes' parameter parsing, as GET /boot.ipxe and GET /ipxe/<name> do it
// (src/boot/service.ts): hono's router and query parser on a hostile request target, then
// the MAC normalizer; and the enrollment code and Host-header checks the LAN port applies.
// Whatever arrives: a MAC accepted is a unicast aa:bb:cc:dd:ee:ff, a refusal is one clean
// line (no control characters, bounded), and nothing else is thrown.
import { Hono } from 'hono';
import { normalizeEnrollCode } from '../../../src/boot/enroll-code.js';
import { normalizeMac, quoteInput } from '../../../src/config/names.js';
import { LanbootError } from '../../../src/log/errors.js';
import { isLanHost } from '../../../src/web/auth/web-auth.js';
import type { FuzzTarget } from '../fuzzer.js';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const ALLOWED_FILES = new Set(['ipxe.efi', 'snponly.efi', 'undionly.kpxe']);

function cleanLine(text: string): void {
  if (/[\x00-\x1f\x7f]/.test(text.replace(/\n$/, '')) || text.length > 400) throw new Error(`error line not clean: ${JSON.stringify(text)}`);
}

const app = new Hono();
app.get('/boot.ipxe', (c) => {
  const macParam = c.req.query('mac');
  if (macParam === undefined) return c.text('probe');
  try {
    const mac = normalizeMac(macParam, 'mac');
    if (!MAC.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) throw new Error(`normalizeMac accepted ${JSON.stringify(macParam)} as ${mac}`);
    return c.text(mac);
  } catch (error) {
    if (!(error instanceof LanbootError)) throw error;
    cleanLine(error.message);
    return c.text(`${error.message}\n`, 400);
  }
});
app.get('/ipxe/:name', (c) => {
  const name = c.req.param('name');
  if (!ALLOWED_FILES.has(name)) {
    const line = `lanboot: no boot file ${quoteInput(name)}`;
    cleanLine(line);
    return c.text(line, 404);
  }
  return c.text(name);
});
app.onError((error) => {
  throw error;
});

export const target: FuzzTarget = {
  maxLength: 400,
  dictionary: ['/boot.ipxe?', 'mac=', '&mac=', '52:54:00:12:34:56', '52-54-00-12-34-56', '%3a', '%00', '%0a', '/ipxe/', 'undionly.kpxe', '..%2f', '#', '?', '&'],
  async fuzz(data: Buffer): Promise<void> {
    const text = data.toString('latin1');
    const [target = '', host = '', code = ''] = text.split('\x00');
    let url: URL;
    try {
      url = new URL(target.startsWith('/') ? target : `/boot.ipxe?${target}`, 'http://lanboot.local');
    } catch {
      return; // not a request target a client could send
    }
    const response = await app.request(url.href);
    if (![200, 400, 404].includes(response.status)) throw new Error(`status ${response.status} for ${url.href}`);
    await response.arrayBuffer();
    try {
      const normalized = normalizeEnrollCode(code);
      if (!/^[ACDEFHJKMNPQRTUVWXY34679]{6}$/.test(normalized)) throw new Error(`code ${JSON.stringify(code)} accepted as ${normalized}`);
    } catch (error) {
      if (!(error instanceof LanbootError)) throw error;
      cleanLine(error.message);
    }
    const lan = isLanHost(host);
    if (lan && /[\s/@]/.test(host)) throw new Error(`Host ${JSON.stringify(host)} accepted as a LAN name`);
  },
};
