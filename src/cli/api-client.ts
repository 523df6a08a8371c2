// The CLI's side of the local API: HTTP over the supervisor's Unix socket DATA/lanboot.sock.
import fs from 'node:fs';
import http from 'node:http';
import { knownErrorCode, LanbootError } from '../log/errors.js';

export interface ApiResponse {
  status: number;
  body: unknown;
}

export interface UploadProgress {
  (bytesSent: number): void;
}

/** Responses are JSON of a few KiB; a runaway one is cut off. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class ApiClient {
  constructor(
    readonly socketPath: string,
    /** How the user named the data dir, for messages. */
    readonly dataDirLabel: string,
  ) {}

  private connectionError(error: NodeJS.ErrnoException): LanbootError {
    if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ENOTSOCK') {
      return new LanbootError('LANBOOT_NO_SUPERVISOR', `no supervisor running for ${this.dataDirLabel} (start it with \`lanboot serve\`)`);
    }
    if (error.code === 'EACCES' || error.code === 'EPERM') {
      return new LanbootError('LANBOOT_NO_SUPERVISOR', `cannot reach the supervisor for ${this.dataDirLabel}: permission denied on ${this.socketPath} (run as the user that runs \`lanboot serve\`)`);
    }
    return new LanbootError('LANBOOT_NO_SUPERVISOR', `cannot reach the supervisor for ${this.dataDirLabel}: ${error.message}`);
  }

  /** Sends a request; `body` is JSON or, for uploads, a file path streamed as the body. */
  request(method: string, path: string, body?: { json: unknown } | { file: string; size: number; onProgress?: UploadProgress }): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json' };
      let payload: Buffer | undefined;
      if (body && 'json' in body) {
        payload = Buffer.from(JSON.stringify(body.json));
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      } else if (body && 'file' in body) {
        headers['content-type'] = 'application/octet-stream';
        headers['content-length'] = body.size;
      }
      let settled = false;
      let upload: fs.ReadStream | undefined;
      const fail = (error: LanbootError) => {
        if (!settled) {
          settled = true;
          reject(error);
        }
      };
      const req = http.request({ socketPath: this.socketPath, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            fail(new LanbootError('LANBOOT_INTERNAL', 'the supervisor sent an oversized response'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          // An answer before the whole upload was sent is a refusal: stop sending.
          upload?.destroy();
          if (settled) return;
          settled = true;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : JSON.parse(text);
          } catch {
            // Leave it as text: the caller reports it.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (error) => fail(this.connectionError(error)));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // While uploading, the supervisor may answer (an error) and close before it has read
        // the whole body; EPIPE/ECONNRESET then races the response, which is what to report.
        if (error.code === 'EPIPE' || error.code === 'ECONNRESET') {
          setTimeout(() => fail(new LanbootError('LANBOOT_INTERNAL', `the supervisor closed the connection (${error.code})`)), 500);
        } else fail(this.connectionError(error));
      });
      if (body && 'file' in body) {
        const stream = fs.createReadStream(body.file, { highWaterMark: 1024 * 1024 });
        upload = stream;
        let sent = 0;
        stream.on('data', (chunk) => {
          sent += chunk.length;
          body.onProgress?.(sent);
        });
        stream.on('error', (error) => {
          req.destroy();
          fail(new LanbootError('LANBOOT_IO_FAILED', `cannot read ${body.file}: ${error.message}`));
        });
        stream.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** Sends a request and returns the body of a 2xx answer; anything else becomes an error
   *  carrying the supervisor's code and message. */
  async call<T>(method: string, path: string, body?: Parameters<ApiClient['request']>[2]): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status >= 200 && response.status < 300) return response.body as T;
    const error = (response.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (error && typeof error.message === 'string') {
      throw new LanbootError(knownErrorCode(error.code, 'LANBOOT_INTERNAL'), error.message);
    }
    throw new LanbootError('LANBOOT_INTERNAL', `the supervisor answered HTTP ${response.status}`);
  }
}
