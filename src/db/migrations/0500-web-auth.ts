// Web UI authentication:
//   web_admin    : the one admin password (scrypt hash with its own salt and parameters). No
//                  row = first run: every page redirects to /setup. id is pinned to 1, so a
//                  second concurrent /setup fails on the primary key instead of overwriting.
//   web_sessions : server-side sessions. The cookie holds a random token; only its SHA-256 is
//                  stored, so a copy of the database does not hand out live sessions. Each
//                  session has its own CSRF token (synchronizer token pattern).
// Times are ms since the epoch.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE web_admin (
      id            INTEGER PRIMARY KEY CHECK (id = 1),
      password_hash TEXT NOT NULL,
      updated_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE web_sessions (
      token_sha256  TEXT PRIMARY KEY,
      csrf_token    TEXT NOT NULL,
      client        TEXT NOT NULL,
      created_at    INTEGER NOT NULL,
      last_seen_at  INTEGER NOT NULL,
      expires_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
  `);
}
