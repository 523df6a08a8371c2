// Limits on the LAN-facing HTTP server: anyone on the LAN can open connections to it, so how
// long a connection may take to send its request, how long an idle keep-alive connection
// stays, and how many connections one address may hold are all bounded here.
//
// Node's defaults (headersTimeout 60 s, requestTimeout 300 s) let a slowloris client hold a
// connection for minutes with a byte every few seconds. A boot client (iPXE, UEFI HTTP boot,
// a phone's browser) sends its few hundred bytes of headers at once.
//
// Not set: server.timeout (socket inactivity). An ISO transfer runs on the socket's fd in the
// sendfile reactor while the JS socket is paused (src/iso/http-sender.ts), and an inactivity
// timer would cut it; the reactor has its own stall timeout.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

export interface LanHttpLimits {
  /** Time to receive the complete request headers (RFC 9112 message header); also the time
   *  a new connection has to deliver its first request. */
  headersTimeoutMs: number;
  /** Time to receive the whole request, body included. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Open connections one client address may hold; more are closed at accept. */
  maxConnectionsPerAddress: number;
  /** Open connections in all; bounds the file descriptors the LAN can make us hold. */
  maxConnections: number;
}

export const LAN_HTTP_LIMITS: LanHttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  // A phone's browser opens about six; iPXE and firmware one or two at a time.
  maxConnectionsPerAddress: 64,
  maxConnections: 4096,
};

/** Applies the limits to a server not yet listening; returns what it refused (for status). */
export function applyLanHttpLimits(server: Server, limits: LanHttpLimits = LAN_HTTP_LIMITS): { refusedConnections: () => number } {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // How often Node checks the two timeouts above (default 30 s, which would let a stalled
  // connection live up to 40 s with a 10 s headers timeout).
  (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 1_000;
  const perAddress = new Map<string, number>();
  let refused = 0;
  const waitingForRequest = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('request', (req: IncomingMessage) => {
    const timer = waitingForRequest.get(req.socket);
    if (timer) clearTimeout(timer);
    waitingForRequest.delete(req.socket);
  });
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const open = perAddress.get(address) ?? 0;
    if (open >= limits.maxConnectionsPerAddress) {
      refused++;
      socket.destroy();
      return;
    }
    perAddress.set(address, open + 1);
    // Node's headers timeout starts with the first byte: a connection that sends nothing
    // would stay open for ever. It gets the same time to deliver its first request.
    const firstRequest = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    firstRequest.unref();
    waitingForRequest.set(socket, firstRequest);
    socket.once('close', () => {
      clearTimeout(firstRequest);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  return { refusedConnections: () => refused };
}
