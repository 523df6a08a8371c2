// `lanboot serve`: runs the supervisor in the foreground until SIGTERM/SIGINT.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, settingsHelp, type ConfigFlags, type LanbootConfig } from '../config/config.js';
import { LanbootError } from '../log/errors.js';
import { createLogger, errorFields } from '../log/logger.js';
import { loadNative } from '../native/index.js';
import { isRoot } from '../system/network.js';
import type { CliIo } from '../cli/common.js';
import { Supervisor, supervisorNative, type FirstRunState } from './supervisor.js';
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
  'log-format': { type: 'string' },
  interface: { type: 'string' },
  dhcp: { type: 'string' },
  'dhcp-range': { type: 'string' },
  'dhcp-force': { type: 'boolean' },
  'tftp-port': { type: 'string' },
  mdns: { type: 'string' },
  'script-owner-check': { type: 'string' },
  'boot-menu': { type: 'string' },
  'boot-menu-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SERVE_USAGE = `usage: lanboot serve [options]   (runs the supervisor in the foreground until Ctrl-C / SIGTERM)

Each setting comes from its flag, else its LANBOOT_* variable, else the config file, else the default:
${settingsHelp()}

See docs/cli.md.`;

/** The box's addresses a person can open the web UI at. */
export function webUiUrls(listen: string, port: number, interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const hostPort = (host: string) => (port === 80 ? host : `${host}:${port}`);
  if (listen !== '0.0.0.0') return [`http://${hostPort(listen)}/`];
  const lan = Object.values(interfaces)
    .flatMap((infos) => infos ?? [])
    .filter((info) => info.family === 'IPv4' && !info.internal)
    .map((info) => `http://${hostPort(info.address)}/`);
  return lan.length > 0 ? lan : [`http://${hostPort('127.0.0.1')}/`];
}

/** What a person at the terminal reads once lanboot is ready: where the UI is, what to do next. */
export function readyMessage(config: LanbootConfig, httpPort: number, state: FirstRunState, urls = webUiUrls(config.listen, httpPort)): string {
  const lines = ['', 'lanboot is ready. Open the web UI:', ...urls.map((url) => `  ${url}`)];
  if (config.mdns) lines.push(`  http://lanboot.local${httpPort === 80 ? '' : `:${httpPort}`}/ (mDNS)`);
  if (!state.adminPasswordSet) lines.push('', 'First step: open the web UI and set the admin password.');
  else if (state.images === 0) lines.push('', 'Next step: import a golden image (web UI, USB stick, or `lanboot image import FILE --name NAME`).');
  else if (state.seats === 0) lines.push('', 'Next step: network-boot a PC on this LAN and enroll it with the code on its screen.');
  if (config.dhcp.mode === 'off') lines.push('PCs boot from this box once it answers DHCP: start it with --interface IF (see `lanboot serve --help`).');
  lines.push(`Data: ${config.dataDir}. Stop with Ctrl-C.`, '');
  return lines.join('\n');
}

/** Runs until stopped; resolves with the process exit code. */
export async function runServe(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: SERVE_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `serve: ${(error as Error).message.split('. ')[0]!.replace(/\.$/, '')}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new LanbootError('LANBOOT_INVALID_INPUT', `serve: unexpected argument '${positionals[0]}'`);
  const flags = values as ConfigFlags;
  const config = loadConfig({ flags, env: io.env, cwd: io.cwd, isRoot: isRoot(), stdoutIsTty: io.stdout.isTTY === true });
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  logger.info({ config: { ...config } }, 'starting');

  // The one place the addon is loaded: each part gets the slice it uses.
  const native = loadNative();
  const supervisor = new Supervisor({ config, logger, native: supervisorNative(native), services: buildServices(config, logger, native) });
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

  const start = supervisor.start();
  starting = start;
  try {
    const started = await start;
    const urls = webUiUrls(config.listen, started.httpPort);
    logger.info({ urls }, 'web UI');
    // A person at a terminal gets plain sentences; JSON consumers have the line above.
    if (config.logFormat === 'pretty' && signals === 0) io.stdout.write(`${readyMessage(config, started.httpPort, supervisor.firstRunState(), urls)}\n`);
  } catch (error) {
    logger.fatal(errorFields(error), 'cannot start');
    // Stopped by a signal while starting: not a start failure.
    if (signals > 0) return exitCode;
    throw error;
  }
  return exitCode;
}
