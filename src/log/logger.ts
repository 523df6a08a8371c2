// pino JSON logs to stdout (journald collects stdout on the appliance). Child loggers carry
// the client (MAC / IQN / seat) in their bindings so every line says whom it is about.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export { LOG_LEVELS, isLogLevel } from './levels.js';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** File descriptor to write to; 1 (stdout) by default. */
  fd?: number;
}

export function createLogger(options: LoggerOptions): Logger {
  // Synchronous writes: log volume is low (the per-I/O path never logs from JS), and a
  // synchronous destination loses nothing when the process exits right after a line.
  const destination = pino.destination({ dest: options.fd ?? 1, sync: true });
  return pino(
    {
      level: options.level,
      base: { service: 'lanboot', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Secrets must never reach a log line, whatever object a caller passes.
      redact: { paths: ['secret', '*.secret', 'chap.secret', '*.chap.secret', 'chapSecret', '*.chapSecret'], censor: '[redacted]' },
    },
    destination,
  );
}

/** Serializes an error for a log line, keeping its code. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { err: { message: error.message, code: typeof code === 'string' ? code : undefined, stack: error.stack } };
  }
  return { err: { message: String(error) } };
}
