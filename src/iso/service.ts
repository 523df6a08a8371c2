// ISO files over HTTP as a supervisor service: iPXE's `sanboot http://.../x.iso` reads an ISO
// as a SAN disk with many small Range requests.
//
// LAN-facing (anyone on the LAN, unauthenticated, like /boot.ipxe; see docs/isos.md):
//   GET|HEAD /iso/<image>/<file>.iso   the file, with byte ranges (range.ts), body by sendfile
// These requests are answered ahead of the hono app (MountContext.lanRequestHandlers): the
// body goes around any Response object, and iPXE's many small range requests skip routing.
// API (/api/v1):
//   GET /api/v1/isos                   the ISO library with each file's URL
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { IsoRow } from '../db/images.js';
import { errorFields } from '../log/logger.js';
import type { SendFileRange } from '../native/index.js';
import type { MountContext, StartContext, SupervisorService } from '../supervisor/service.js';
import { createIsoApi } from '../web/api/isos.js';
import { DEFAULT_STALL_MS, sendFile } from './http-sender.js';
import { IsoLibrary, isoEtag, isoUrl, ISO_URL_PREFIX } from './library.js';

export interface IsoServiceOptions {
  /** Milliseconds a reader may accept no byte before it is dropped. */
  stallMs?: number;
}

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

function localIpv4Of(c: Context): string | undefined {
  let address = (c.env as NodeBindings | undefined)?.incoming?.socket?.localAddress;
  if (!address) return undefined;
  if (address.startsWith('::ffff:')) address = address.slice(7);
  return net.isIPv4(address) ? address : undefined;
}

export class IsoService implements SupervisorService {
  readonly name = 'iso';
  private library: IsoLibrary | undefined;
  private log: Logger | undefined;
  private httpPort = 0;
  private advertisedHost = '127.0.0.1';
  private readonly stallMs: number;
  private requests = 0;
  private bytesSent = 0;
  private active = 0;

  /** `sendFileRange`: the addon's sendfile reactor (the supervisor hands it in). */
  constructor(
    private readonly sendFileRange: SendFileRange,
    options: IsoServiceOptions = {},
  ) {
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  }

  mount(ctx: MountContext): void {
    this.library = new IsoLibrary(ctx.images);
    this.log = ctx.logger.child({ component: 'iso' });
    ctx.lanRequestHandlers.push((req, res) => this.handle(req, res));
    ctx.api.route(
      '/api/v1/isos',
      createIsoApi({
        list: () => this.library!.list(),
        // The address a LAN request came in on is the one its client reaches the box at; the
        // CLI's socket and the UI's in-process calls get the advertised address.
        urlFor: (c, row) => isoUrl(localIpv4Of(c) ?? this.advertisedHost, this.httpPort, row.imageName, row.fileName),
      }),
    );
  }

  start(ctx: StartContext): void {
    this.httpPort = ctx.httpPort;
    this.advertisedHost = ctx.advertisedHost;
  }

  status(): unknown {
    return { requests: this.requests, bytesSent: this.bytesSent, activeTransfers: this.active };
  }

  /** Takes GET and HEAD under /iso/; anything else goes on to the hono app. */
  private handle(req: IncomingMessage, res: ServerResponse): boolean {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.url?.startsWith(ISO_URL_PREFIX)) return false;
    const query = req.url.indexOf('?');
    const parts = (query < 0 ? req.url : req.url.slice(0, query)).split('/');
    // ['', 'iso', image, file]; names need no escaping, so an escaped one matches nothing.
    const row = parts.length === 4 ? this.library!.find(parts[2]!, parts[3]!) : undefined;
    if (!row) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('lanboot: no such ISO\n');
      return true;
    }
    this.serve(req, res, row);
    return true;
  }

  private serve(req: IncomingMessage, res: ServerResponse, row: IsoRow): void {
    const client = req.socket.remoteAddress?.replace(/^::ffff:/, '');
    const log = this.log!.child({ client, iso: `${row.imageName}/${row.fileName}` });
    this.requests++;
    this.active++;
    sendFile(
      req,
      res,
      { path: row.filePath, etag: isoEtag(row), contentType: 'application/octet-stream' },
      { sendFileRange: this.sendFileRange, stallMs: this.stallMs, log },
    )
      .then((outcome) => {
        this.bytesSent += outcome.bytes;
        if (outcome.ignoredRange) log.info({ range: req.headers.range?.slice(0, 100), why: outcome.ignoredRange }, 'Range header ignored: whole file sent');
        log.debug({ status: outcome.status, range: req.headers.range?.slice(0, 100), bytes: outcome.bytes }, 'ISO request');
      })
      .catch((error: unknown) => {
        log.error({ file: row.filePath, ...errorFields(error) }, 'cannot serve an ISO file');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end('lanboot: the ISO file cannot be read; see the supervisor log\n');
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        this.active--;
      });
  }
}
