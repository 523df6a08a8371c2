// The LAN HTTP server's limits (src/supervisor/http-limits.ts) on a real server over loopback:
// a connection that sends nothing, one that sends headers a line at a time (slowloris), and
// more connections from one address than it may hold; another address is served meanwhile.
// Short limits here; the supervisor uses LAN_HTTP_LIMITS (checked below too).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { applyLanHttpLimits, LAN_HTTP_LIMITS } from '../../src/supervisor/http-limits.js';

function get(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

test('idle, slow and surplus connections are closed; another address is still served', async (t) => {
  const server = http.createServer((_req, res) => res.end('ok'));
  const limits = applyLanHttpLimits(server, { headersTimeoutMs: 1500, requestTimeoutMs: 2500, keepAliveTimeoutMs: 1000, maxConnectionsPerAddress: 5, maxConnections: 100 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as net.AddressInfo).port;
  const started = Date.now();
  const sockets = Array.from({ length: 8 }, () => net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' }));
  const closedAt = sockets.map((s) => new Promise<number>((resolve) => s.on('close', () => resolve(Date.now() - started))));
  for (const s of sockets) s.on('error', () => undefined);
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
  // Slowloris on the first: a header line every 300 ms, never the blank line.
  sockets[0]!.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => sockets[0]!.writable && sockets[0]!.write('X-Slow: 1\r\n'), 300);
  t.after(() => clearInterval(drip));

  // Meanwhile a PC at another address is served.
  assert.equal(await get(port, '127.0.0.2'), 200);
  const times = await Promise.all(closedAt);
  clearInterval(drip);
  const surplus = times.filter((ms) => ms < 1000).length;
  assert.equal(surplus, 3, `3 connections over the cap of 5 closed at once: ${times.join(', ')}`);
  assert.equal(limits.refusedConnections(), 3);
  for (const ms of times.filter((x) => x >= 1000)) assert.ok(ms < 4000, `idle/slow connections closed within the limits: ${times.join(', ')}`);
  // The address may connect again once its connections are gone.
  assert.equal(await get(port, '127.0.0.1'), 200);
});

test('the supervisor limits are below Node defaults', () => {
  assert.ok(LAN_HTTP_LIMITS.headersTimeoutMs <= 10_000);
  assert.ok(LAN_HTTP_LIMITS.requestTimeoutMs <= 30_000 && LAN_HTTP_LIMITS.requestTimeoutMs >= LAN_HTTP_LIMITS.headersTimeoutMs);
  assert.ok(LAN_HTTP_LIMITS.maxConnectionsPerAddress >= 16, 'a browser and a booting PC fit');
});
