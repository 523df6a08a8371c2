// Answers one GET/HEAD for an ISO file on a Node HTTP connection: status and headers through
// Node's ServerResponse (so keep-alive and pipelining stay Node's business), the body with
// the addon's sendFileRange (sendfile(2) on a reactor thread: page cache to socket, no JS
// buffer). Range rules are in range.ts.
import { once } from 'node:events';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import type { SendFileRange } from '../native/index.js';
import { decideRange, ifRangeMatches } from './range.js';

/** A reader that accepts no byte for this long is dropped. */
export const DEFAULT_STALL_MS = 30_000;

export interface ServedFile {
  /** Absolute path of the file (looked at per request: a re-import renames a new file over it). */
  path: string;
  /** Strong entity-tag (quoted), e.g. from the file's SHA-256. */
  etag: string;
  contentType: string;
}

export interface SendOptions {
  sendFileRange: SendFileRange;
  stallMs: number;
  log: Logger;
}

export interface SendOutcome {
  status: number;
  /** Body bytes the socket accepted. */
  bytes: number;
  /** Why a Range header was ignored, if it was. */
  ignoredRange?: string;
}

/** The connection's fd for sendfile: libuv's TCP handle on Linux. */
function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Resolves once everything written to the socket so far has gone to the kernel: the
 *  callback of an empty write runs after every write queued before it. */
async function flushed(socket: Socket): Promise<void> {
  if (socket.writableLength === 0) return;
  await new Promise<void>((resolve, reject) => socket.write(EMPTY, (error) => (error ? reject(error) : resolve())));
}

const EMPTY = Buffer.alloc(0);

export async function sendFile(req: IncomingMessage, res: ServerResponse, file: ServedFile, options: SendOptions): Promise<SendOutcome> {
  // The file's own size, not a recorded one: Content-Range must describe what is sent.
  // Synchronous: a stat of a file in use is a cached inode, cheaper than a threadpool hop
  // on every one of iPXE's many small requests.
  const size = fs.statSync(file.path).size;
  const headers: Record<string, string> = {
    'accept-ranges': 'bytes',
    'content-type': file.contentType,
    etag: file.etag,
    // The same URL serves a new file after a re-import: caches must revalidate (ETag).
    'cache-control': 'no-cache',
  };
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  const decision = ifRangeMatches(typeof ifRange === 'string' ? ifRange : undefined, file.etag) ? decideRange(rangeHeader, size) : { kind: 'whole' as const };
  const ignoredRange = decision.kind === 'whole' ? decision.ignored : undefined;
  if (decision.kind === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': '0' });
    res.end();
    return { status: 416, bytes: 0 };
  }
  // One range: 206. Several: the whole file with 200 (RFC 9110 14.2 lets a server ignore
  // Range; iPXE and every boot loader ask for one range at a time).
  let status = 200;
  let start = 0;
  let length = size;
  if (decision.kind === 'ranges' && decision.ranges.length === 1) {
    const range = decision.ranges[0]!;
    status = 206;
    start = range.start;
    length = range.end - range.start + 1;
    headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  }
  headers['content-length'] = String(length);
  const outcome = (bytes: number): SendOutcome => ({ status, bytes, ...(ignoredRange ? { ignoredRange } : {}) });
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, headers);
    res.end();
    return outcome(0);
  }

  // A pipelined request's response waits until the ones before it are finished: only then
  // is the socket ours to write to (Node assigns it and emits 'socket').
  if (!res.socket) await once(res, 'socket');
  const socket = res.socket as Socket | null;
  const fd = socket ? socketFd(socket) : undefined;
  if (!socket || fd === undefined) {
    res.destroy();
    throw new Error('no socket fd to send the file on');
  }
  res.writeHead(status, headers);
  res.flushHeaders();
  // The body goes straight to the fd: the headers must be in the kernel first.
  await flushed(socket);
  // Nothing is read from the connection while the addon writes to it (a FIN read meanwhile
  // would make Node end the socket under the transfer).
  socket.pause();
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onClose = () => Atomics.store(cancel, 0, 1);
  socket.once('close', onClose);
  let sent: number;
  try {
    sent = await options.sendFileRange(fd, file.path, start, length, options.stallMs, cancel);
  } catch (error) {
    // The response is cut short: the connection cannot carry another one.
    socket.destroy();
    const bytesSent = error instanceof LanbootError ? error.details?.['bytesSent'] : undefined;
    const bytes = typeof bytesSent === 'number' ? bytesSent : 0;
    options.log.info({ file: file.path, start, length, bytes, ...errorFields(error) }, 'ISO transfer ended early');
    return outcome(bytes);
  } finally {
    socket.off('close', onClose);
  }
  socket.resume();
  // The body went around Node's stream: end() adds nothing (Content-Length framing) and
  // hands the connection to the next request.
  res.end();
  return outcome(sent);
}
