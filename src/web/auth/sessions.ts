// The admin password and the server-side session table (migration 0500).
import crypto from 'node:crypto';
import type { Db } from '../../db/database.js';

/** A session ends after this long without a request... */
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
/** ...and after this long in any case. */
export const SESSION_MAX_MS = 7 * 24 * 60 * 60 * 1000;
/** last_seen_at is written at most this often (a page view is not a database write). */
const TOUCH_EVERY_MS = 60 * 1000;
/** Older sessions are dropped beyond this many (each login adds one). */
const MAX_SESSIONS = 200;

export interface Session {
  tokenSha256: string;
  csrfToken: string;
  client: string;
  createdAt: number;
  expiresAt: number;
}

function sha256(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export function randomToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export class AuthStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  passwordHash(): string | undefined {
    const row = this.db.prepare('SELECT password_hash FROM web_admin WHERE id = 1').get() as { password_hash: string } | undefined;
    return row?.password_hash;
  }

  isSetUp(): boolean {
    return this.passwordHash() !== undefined;
  }

  /** First run only: false when a password is already set (never overwrites). */
  setInitialPassword(hash: string): boolean {
    const result = this.db.prepare('INSERT OR IGNORE INTO web_admin (id, password_hash, updated_at) VALUES (1, ?, ?)').run(hash, this.now());
    return result.changes === 1;
  }

  /** Changing the password ends every session. */
  changePassword(hash: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE web_admin SET password_hash = ?, updated_at = ? WHERE id = 1').run(hash, this.now());
      this.db.prepare('DELETE FROM web_sessions').run();
    })();
  }

  /** Returns the cookie token (only its hash is stored). */
  createSession(client: string): { token: string; session: Session } {
    const token = randomToken();
    const now = this.now();
    const session: Session = { tokenSha256: sha256(token), csrfToken: randomToken(), client: client.slice(0, 64), createdAt: now, expiresAt: now + SESSION_IDLE_MS };
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM web_sessions WHERE expires_at <= ?').run(now);
      this.db
        .prepare('INSERT INTO web_sessions (token_sha256, csrf_token, client, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(session.tokenSha256, session.csrfToken, session.client, now, now, session.expiresAt);
      this.db
        .prepare('DELETE FROM web_sessions WHERE token_sha256 NOT IN (SELECT token_sha256 FROM web_sessions ORDER BY last_seen_at DESC LIMIT ?)')
        .run(MAX_SESSIONS);
    })();
    return { token, session };
  }

  /** The live session for a cookie token, its idle expiry pushed forward; undefined if none. */
  findSession(token: string | undefined): Session | undefined {
    if (!token || token.length > 100) return undefined;
    const now = this.now();
    const row = this.db
      .prepare('SELECT token_sha256, csrf_token, client, created_at, last_seen_at, expires_at FROM web_sessions WHERE token_sha256 = ?')
      .get(sha256(token)) as { token_sha256: string; csrf_token: string; client: string; created_at: number; last_seen_at: number; expires_at: number } | undefined;
    if (!row) return undefined;
    if (row.expires_at <= now || now - row.created_at >= SESSION_MAX_MS) {
      this.db.prepare('DELETE FROM web_sessions WHERE token_sha256 = ?').run(row.token_sha256);
      return undefined;
    }
    let expiresAt = row.expires_at;
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) {
      expiresAt = Math.min(now + SESSION_IDLE_MS, row.created_at + SESSION_MAX_MS);
      this.db.prepare('UPDATE web_sessions SET last_seen_at = ?, expires_at = ? WHERE token_sha256 = ?').run(now, expiresAt, row.token_sha256);
    }
    return { tokenSha256: row.token_sha256, csrfToken: row.csrf_token, client: row.client, createdAt: row.created_at, expiresAt };
  }

  deleteSession(token: string | undefined): void {
    if (!token || token.length > 100) return;
    this.db.prepare('DELETE FROM web_sessions WHERE token_sha256 = ?').run(sha256(token));
  }
}

/** Constant-time string comparison for tokens. */
export function tokensEqual(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
