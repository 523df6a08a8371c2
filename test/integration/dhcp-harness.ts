// Shared pieces of the DHCP integration tests: lanboot's DHCP running in a namespace (through
// dhcp-netns-child.ts), raw packets sent from a namespace, and the real peers: dnsmasq (the
// home router), busybox udhcpc and ISC dhclient.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { decodeDhcpMessage, type DhcpMessage } from '../../src/dhcp/codec.js';
import type { TestNetwork } from '../helpers/netns.js';
import { describeRun, repoRoot, waitFor, waitExit, killTree } from '../helpers/tools.js';

export const CHILD_SCRIPT = path.join(repoRoot, 'dist/test/integration/dhcp-netns-child.js');

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

export interface RunningChild {
  process: ChildProcess;
  events: ChildEvent[];
  stderr: () => string;
  waitEvent(predicate: (e: ChildEvent) => boolean, what: string, timeoutMs?: number): Promise<ChildEvent>;
  stop(): Promise<void>;
}

/** Starts lanboot's DHCP server (proxy or full) inside `host`; resolves once it is ready (or
 *  reports start-failed, which is returned as an event for the tests that expect it). */
export async function startLanbootDhcp(net: TestNetwork, host: string, config: Record<string, unknown>): Promise<RunningChild> {
  const child = net.spawn(host, process.execPath, [CHILD_SCRIPT, 'server', JSON.stringify(config)], {
    env: { ...process.env, LANBOOT_TEST_LOG_LEVEL: 'debug' },
  });
  const events: ChildEvent[] = [];
  let stdoutBuffer = '';
  let stderrText = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdoutBuffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = stdoutBuffer.indexOf('\n')) !== -1) {
      const line = stdoutBuffer.slice(0, newline);
      stdoutBuffer = stdoutBuffer.slice(newline + 1);
      try {
        events.push(JSON.parse(line) as ChildEvent);
      } catch {
        events.push({ event: 'unparsed', line });
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    // Keep the tail only: debug logs of a long test can be large.
    stderrText = (stderrText + chunk.toString('utf8')).slice(-64 * 1024);
  });
  const running: RunningChild = {
    process: child,
    events,
    stderr: () => stderrText,
    waitEvent(predicate, what, timeoutMs = 10_000) {
      return waitFor(
        `${what} (exit code ${child.exitCode}; stderr tail: ${stderrText.slice(-2000)})`,
        async () => {
          const found = events.find(predicate);
          if (found) return found;
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited with ${child.exitCode ?? child.signalCode}`);
          return undefined;
        },
        timeoutMs,
        50,
      );
    },
    async stop() {
      killTree(child, 'SIGTERM');
      if (!(await waitExit(child, 5000))) killTree(child, 'SIGKILL');
    },
  };
  await running.waitEvent((e) => e.event === 'ready' || e.event === 'start-failed' || e.event === 'error', 'DHCP server start', 20_000);
  return running;
}

export interface ReceivedReply {
  from: string;
  fromPort: number;
  message: DhcpMessage;
}

/** Sends raw datagrams from `host` (bound to bindPort) and collects every reply for waitMs. */
export async function sendPackets(
  net: TestNetwork,
  host: string,
  packets: Buffer[],
  options: { address?: string; port?: number; bindPort?: number; waitMs?: number } = {},
): Promise<ReceivedReply[]> {
  const config = {
    packets: packets.map((p) => p.toString('hex')),
    address: options.address ?? '255.255.255.255',
    port: options.port ?? 67,
    bindPort: options.bindPort ?? 68,
    waitMs: options.waitMs ?? 1500,
  };
  // On stdin: hundreds of packets do not fit in an argument list (E2BIG).
  const result = await net.runOk(host, process.execPath, [CHILD_SCRIPT, 'send', '-'], { timeoutMs: 60_000, input: JSON.stringify(config) });
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { event: string; from: string; fromPort: number; hex: string })
    .filter((e) => e.event === 'reply')
    .map((e) => ({ from: e.from, fromPort: e.fromPort, message: decodeDhcpMessage(Buffer.from(e.hex, 'hex')) }));
}

/** lanboot's detect.ts run inside `host`; 'interface' mode uses the addon's SO_BINDTODEVICE
 *  socket, which also works on an interface without an address or route. */
export async function runDetect(
  net: TestNetwork,
  host: string,
  options: { timeoutMs?: number; bindMode?: 'interface' | 'any-address' } = {},
): Promise<Array<Record<string, unknown>>> {
  const config = { timeoutMs: options.timeoutMs ?? 2000, bindMode: options.bindMode ?? 'interface' };
  const result = await net.runOk(host, process.execPath, [CHILD_SCRIPT, 'detect', JSON.stringify(config)], { timeoutMs: 30_000 });
  const line = result.stdout.split('\n').find((l) => l.includes('"detected"'));
  if (!line) throw new Error(describeRun('detect', result));
  return (JSON.parse(line) as { servers: Array<Record<string, unknown>> }).servers;
}

/** dnsmasq as a home router: DHCP only (port=0 turns DNS off), its own config in `dir`. */
export async function startDnsmasq(net: TestNetwork, host: string, dir: string, range: string): Promise<ChildProcess> {
  const conf = path.join(dir, 'dnsmasq.conf');
  await fsp.writeFile(
    conf,
    [
      'port=0',
      'interface=eth0',
      'bind-interfaces',
      `dhcp-range=${range},255.255.255.0,10m`,
      `dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
      // Offer at once instead of pinging the address first.
      'no-ping',
      'log-dhcp',
      'user=root',
      '',
    ].join('\n'),
  );
  const child = net.spawn(host, 'dnsmasq', [`--conf-file=${conf}`, '--keep-in-foreground', '--log-facility=-', `--pid-file=${path.join(dir, 'dnsmasq.pid')}`]);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  // dnsmasq logs "DHCP, IP range ..." once its socket is bound.
  await waitFor(`dnsmasq start (${stderr})`, async () => {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${stderr}`);
    return /DHCP, IP range/.test(stderr) ? true : undefined;
  }, 10_000);
  return child;
}

export type ClientLease = Record<string, string>;

function udhcpcScript(out: string, configure: boolean): string {
  // Records every event with what udhcpc learned; configures the address only when asked
  // (a unicast RENEW or RELEASE needs it on eth0).
  return (
    `#!/bin/sh\ncase "$1" in bound|renew) ;; *) echo "reason=$1" >> ${out}; exit 0 ;; esac\n` +
    (configure ? `ip addr replace "$ip/$subnet" dev "$interface"\n` : '') +
    `echo "reason=$1 ip=$ip subnet=$subnet router=$(echo $router | tr ' ' ,) dns=$(echo $dns | tr ' ' ,) lease=$lease serverid=$serverid siaddr=$siaddr boot_file=$boot_file domain=$domain" >> ${out}\n`
  );
}

/** busybox udhcpc, one lease then quit. Returns the variables its script saw at "bound". */
export async function runUdhcpc(net: TestNetwork, host: string, dir: string, options: { vendorClass?: string } = {}): Promise<ClientLease> {
  const out = path.join(dir, `udhcpc-${host}-${Date.now()}.out`);
  const script = path.join(dir, `udhcpc-${host}.sh`);
  await fsp.writeFile(script, udhcpcScript(out, false), { mode: 0o755 });
  const args = ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script];
  if (options.vendorClass) args.push('-V', options.vendorClass);
  const result = await net.run(host, 'busybox', args, { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(describeRun('udhcpc', result));
  const bound = (await fsp.readFile(out, 'utf8')).trim().split('\n').filter((l) => l.startsWith('reason=bound'));
  return parseLine(bound.at(-1) ?? '');
}

export interface UdhcpcDaemon {
  /** Waits until the script has seen `reason` `count` times; returns the last such record. */
  waitFor(reason: string, count?: number): Promise<ClientLease>;
  /** udhcpc(8): SIGUSR1 renews, SIGUSR2 releases. */
  signal(signal: 'SIGUSR1' | 'SIGUSR2'): void;
  stop(): Promise<void>;
}

/** busybox udhcpc kept running (configuring the address), to drive renew and release. */
export async function startUdhcpc(net: TestNetwork, host: string, dir: string): Promise<UdhcpcDaemon> {
  const out = path.join(dir, `udhcpc-${host}-daemon.out`);
  const script = path.join(dir, `udhcpc-${host}-daemon.sh`);
  await fsp.writeFile(script, udhcpcScript(out, true), { mode: 0o755 });
  const child = net.spawn(host, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-t', '5', '-T', '1', '-s', script]);
  let output = '';
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-8192)));
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-8192)));
  return {
    async waitFor(reason, count = 1) {
      const line = await waitFor(
        `udhcpc ${reason} x${count} (${output})`,
        async () => {
          const lines = (await fsp.readFile(out, 'utf8').catch(() => '')).trim().split('\n').filter((l) => l.startsWith(`reason=${reason}`));
          return lines.length >= count ? lines.at(-1) : undefined;
        },
        20_000,
      );
      return parseLine(line);
    },
    signal(signal) {
      if (child.pid !== undefined) process.kill(child.pid, signal);
    },
    async stop() {
      killTree(child, 'SIGTERM');
      if (!(await waitExit(child, 3000))) killTree(child, 'SIGKILL');
    },
  };
}

function parseLine(line: string): ClientLease {
  const values: ClientLease = {};
  for (const pair of line.split(' ')) {
    const eq = pair.indexOf('=');
    if (eq > 0) values[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return values;
}

/** ISC dhclient in the foreground with its own config, lease file and a recording script;
 *  stopped once it is bound. */
export async function runDhclient(net: TestNetwork, host: string, dir: string): Promise<ClientLease> {
  const out = path.join(dir, `dhclient-${host}.out`);
  const script = path.join(dir, `dhclient-${host}.sh`);
  const conf = path.join(dir, `dhclient-${host}.conf`);
  await fsp.writeFile(
    script,
    `#!/bin/sh\n# Records what dhclient learned; configures nothing.\ncase "$reason" in BOUND|RENEW|REBOOT) ;; *) exit 0 ;; esac\n` +
      `echo "reason=$reason ip=$new_ip_address subnet=$new_subnet_mask router=$(echo $new_routers | tr ' ' ,) dns=$(echo $new_domain_name_servers | tr ' ' ,) lease=$new_dhcp_lease_time serverid=$new_dhcp_server_identifier domain=$new_domain_name" >> ${out}\n`,
    { mode: 0o755 },
  );
  await fsp.writeFile(conf, 'timeout 20;\nretry 1;\nrequest subnet-mask, broadcast-address, routers, domain-name, domain-name-servers;\n');
  const child = net.spawn(host, 'dhclient', ['-d', '-1', '-v', '-sf', script, '-cf', conf, '-lf', path.join(dir, `dhclient-${host}.leases`), '-pf', path.join(dir, `dhclient-${host}.pid`), 'eth0']);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  try {
    const line = await waitFor(
      `dhclient BOUND (${stderr})`,
      async () => {
        const text = await fsp.readFile(out, 'utf8').catch(() => '');
        if (!text && child.exitCode !== null) throw new Error(`dhclient exited ${child.exitCode}: ${stderr}`);
        return text.trim().split('\n').find((l) => l.startsWith('reason=BOUND'));
      },
      25_000,
    );
    return parseLine(line);
  } finally {
    killTree(child, 'SIGTERM');
    if (!(await waitExit(child, 3000))) killTree(child, 'SIGKILL');
  }
}
