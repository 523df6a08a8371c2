// `lanboot serve`: runs the supervisor in the foreground until SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { loadConfig, resolveDataDir, type ConfigFlags } from '../config/config.js';
import { LanbootError } from '../log/errors.js';
import { createLogger, errorFields } from '../log/logger.js';
import { isRoot } from '../system/network.js';
import { Supervisor } from './supervisor.js';
import { buildServices } from './services.js';

/** A stop that takes longer than this is forced (systemd's TimeoutStopSec is longer). */
export const STOP_DEADLINE_MS = 10_000;

export const SERVE_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  'iscsi-port': { type: 'string' },
  'http-port': { type: 'string' },
  listen: { type: 'string' },
  'log-level': { type: 'string' },
  interface: { type: 'string' },
  dhcp: { type: 'string' },
  'dhcp-range': { type: 'string' },
  'dhcp-force': { type: 'boolean' },
  'tftp-port': { type: 'string' },
  mdns: { type: 'string' },
} as const;

/** Runs until stopped; resolves with the process exit code. */
export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: SERVE_OPTIONS, allowPositionals: true, strict: true });
  if (positionals.length > 0) throw new LanbootError('LANBOOT_INVALID_INPUT', `serve: unexpected argument '${positionals[0]}'`);
  const flags = values as ConfigFlags;
  const config = loadConfig({ flags, env: process.env, cwd: process.cwd(), isRoot: isRoot() });
  const { label } = resolveDataDir(flags, process.env, process.cwd());
  const logger = createLogger({ level: config.logLevel });
  logger.info({ config: { ...config } }, 'starting');

  const supervisor = new Supervisor({ config, logger, dataDirLabel: config.configFile ? config.dataDir : label, services: buildServices(config, logger) });
  // A bug must not leave a half-working supervisor: log it and exit non-zero, so systemd
  // restarts a clean one (deltas are crash-consistent by design).
  const die = (kind: string) => (error: unknown) => {
    logger.fatal({ ...errorFields(error), kind }, 'unexpected error: exiting');
    process.exit(70); // EX_SOFTWARE
  };
  process.on('uncaughtException', die('uncaughtException'));
  process.on('unhandledRejection', die('unhandledRejection'));
  let resolveExit!: (code: number) => void;
  const exitCode = new Promise<number>((resolve) => (resolveExit = resolve));
  // Signal handlers go in before the start, so a SIGTERM during start-up still stops
  // gracefully (once the start has finished or failed) instead of killing the process.
  let starting: Promise<unknown> = Promise.resolve();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      resolveExit(1);
      return;
    }
    logger.info({ signal }, 'signal received, stopping');
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop took too long: exiting now');
      resolveExit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    starting
      .catch(() => undefined)
      .then(() => supervisor.stop())
      .then(
        () => {
          clearTimeout(deadline);
          resolveExit(0);
        },
        (error: unknown) => {
          logger.error(errorFields(error), 'stop failed');
          resolveExit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  starting = supervisor.start();
  try {
    await starting;
  } catch (error) {
    logger.fatal(errorFields(error), 'cannot start');
    // Stopped by a signal while starting: not a start failure.
    if (signals > 0) return exitCode;
    throw error;
  }
  return exitCode;
}
