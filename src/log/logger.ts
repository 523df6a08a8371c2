// pino JSON logs to stdout (journald collects stdout on the appliance); for a person at a
// terminal, the same lines made readable by pino-pretty (docs/decisions/0021). Child loggers
// carry the client (MAC / IQN / seat) in their bindings so every line says whom it is about.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export { LOG_LEVELS, isLogLevel } from './levels.js';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** json (default) or pretty (readable lines; the configuration decides, src/config). */
  format?: 'json' | 'pretty';
  /** File descriptor to write to; 1 (stdout) by default. */
  fd?: number;
}

function prettyDestination(fd: number): DestinationStream {
  // In-process and synchronous, like the JSON destination: a worker-thread transport would
  // lose the last lines when the process exits right after them (a fatal start error).
  return pinoPretty({ destination: fd, sync: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service' });
}

export function createLogger(options: LoggerOptions): Logger {
  // Synchronous writes: log volume is low (the per-I/O path never logs from JS), and a
  // synchronous destination loses nothing when the process exits right after a line.
  const fd = options.fd ?? 1;
  const destination = options.format === 'pretty' ? prettyDestination(fd) : pino.destination({ dest: fd, sync: true });
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
