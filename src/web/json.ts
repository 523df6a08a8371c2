// JSON in and out of the API: request bodies (bounded, objects only, known fields only) and
// the one error shape every route answers with.
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { httpStatusFor, LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';

/** JSON request bodies here are a handful of fields. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/** Body-size limit for JSON requests, before anything is parsed. */
export const jsonBodyLimit = bodyLimit({
  maxSize: MAX_JSON_BODY_BYTES,
  onError: (c) => c.json({ error: { code: 'LANBOOT_INVALID_INPUT', message: `request body: larger than ${MAX_JSON_BODY_BYTES} bytes` } }, 413),
});

export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: expected a JSON object');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: expected a JSON object');
  return body as Record<string, unknown>;
}

/** For routes whose body is optional: an empty request means "no options". */
export async function readOptionalJsonObject(c: Context): Promise<Record<string, unknown>> {
  const length = c.req.header('content-length');
  if ((length === undefined || length === '0') && !c.req.header('transfer-encoding')) return {};
  return readJsonObject(c);
}

/** Refuses a body with a field the route does not know (a typo must not be ignored). */
export function checkFields(body: Record<string, unknown>, allowed: string[]): void {
  const known = new Set(allowed);
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw new LanbootError('LANBOOT_INVALID_INPUT', `request body: unknown field '${key.slice(0, 40)}'`);
  }
}

/** A thrown error as the API's error JSON: a LanbootError's code decides the status
 *  (src/log/errors.ts), anything else is a 500 whose details stay in the log. */
export function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  if (error instanceof LanbootError) {
    const status = httpStatusFor(error.code);
    if (status >= 500) logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
    return c.json({ error: { code: error.code, message: error.message } }, status as 400);
  }
  logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
  return c.json({ error: { code: 'LANBOOT_INTERNAL', message: 'internal error (see the supervisor log)' } }, 500);
}

export function jsonNotFound(c: Context): Response {
  return c.json({ error: { code: 'LANBOOT_NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path.slice(0, 200)}` } }, 404);
}
