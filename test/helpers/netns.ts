// Test networks made of Linux network namespaces: one namespace holds a bridge (the "LAN
// switch"), each host is its own namespace with one veth, named eth0, plugged into the bridge.
// No interface is ever created in the machine's own namespace: veth ends are created directly
// inside their namespaces, so a test cannot touch a real interface.
//
// Cleanup is guaranteed three ways: the test's t.after (also when it fails), a process 'exit'
// hook (synchronous), and a sweep at the next createTestNetwork of namespaces left behind by a
// test process that no longer exists (its pid is in the name).
//
// Usage:
//   const net = await createTestNetwork(t, { hosts: [{ name: 'router', address: '10.9.0.1/24' }, { name: 'pc' }] });
//   await net.run('pc', 'busybox', ['udhcpc', ...]);     // bounded, output collected
//   const child = net.spawn('router', 'dnsmasq', [...]); // killed at cleanup
//   net.nsName('pc'), net.interfaceName (eth0)
import { execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { killTree, requireTools, runTool, spawnTracked, waitExit, describeRun, type Cleanup, type RunOptions, type ToolResult } from './tools.js';

export interface TestHostSpec {
  /** Short name, [a-z0-9]; the namespace is `<prefix>-<name>`. */
  name: string;
  /** CIDR address for eth0, e.g. 10.77.0.1/24; none for a host that gets its address by DHCP. */
  address?: string;
  /** Route everything (also 255.255.255.255) out of eth0. Without an address, a plain UDP
   *  socket cannot send a limited broadcast; a route via the device fixes that. */
  defaultRoute?: boolean;
  /** MAC of eth0, e.g. 52:54:00:12:34:56; random when absent. */
  mac?: string;
}

export interface TestNetwork {
  /** Common prefix of every namespace of this network. */
  readonly prefix: string;
  /** Namespace holding the bridge. */
  readonly bridgeNamespace: string;
  /** Name of each host's interface. */
  readonly interfaceName: 'eth0';
  /** The bridge's name inside bridgeNamespace (a tap for qemu can be attached to it). */
  readonly bridgeName: 'br0';
  nsName(host: string): string;
  /** MAC of a host's eth0. */
  macOf(host: string): Promise<string>;
  addHost(spec: TestHostSpec): Promise<void>;
  /** Gives an existing host one more interface, plugged into `lan`'s bridge (another
   *  TestNetwork, or this one when absent): a host on two LANs. */
  addInterface(host: string, spec: { name: string; lan?: TestNetwork; address?: string; mac?: string }): Promise<void>;
  /** A tap device on the bridge, for qemu (`-netdev tap,ifname=NAME,script=no,downscript=no`
   *  run with spawn('lan', ...)). The bridge namespace is the host named 'lan'. */
  addTap(name?: string): Promise<{ host: 'lan'; namespace: string; interfaceName: string }>;
  /** Runs a command inside a host's namespace to completion (killed at the timeout). */
  run(host: string, command: string, args: readonly string[], options?: RunOptions): Promise<ToolResult>;
  /** Like run, but throws with the tool's output when it exits non-zero. */
  runOk(host: string, command: string, args: readonly string[], options?: RunOptions): Promise<ToolResult>;
  /** Starts a long-running command inside a host's namespace; killed at cleanup. */
  spawn(host: string, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Kills every process of the network and deletes its namespaces. Idempotent. */
  destroy(): Promise<void>;
}

const NAME_PATTERN = /^[a-z0-9]{1,12}$/;
const OWNED_PATTERN = /^lbt-(\d+)-\d+-/;
let networkCounter = 0;
let vethCounter = 0;

/** Every live network of this process, destroyed synchronously at exit as a last resort. */
const liveNetworks = new Map<string, Set<string>>();
process.once('exit', () => {
  for (const namespaces of liveNetworks.values()) for (const ns of namespaces) deleteNamespaceSync(ns);
});

function ipSync(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function namespacePids(ns: string): number[] {
  try {
    return ipSync(['netns', 'pids', ns])
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Kills every process still inside the namespace, then deletes it (which destroys its veths). */
function deleteNamespaceSync(ns: string): void {
  for (const pid of namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    ipSync(['netns', 'delete', ns]);
  } catch {
    // already deleted
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces of earlier test processes that died without cleaning up. */
export function sweepStaleNamespaces(): string[] {
  let list: string;
  try {
    list = ipSync(['netns', 'list']);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const match = OWNED_PATTERN.exec(ns);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    deleteNamespaceSync(ns);
    removed.push(ns);
  }
  return removed;
}

async function ip(args: readonly string[]): Promise<void> {
  const result = await runTool('ip', args, { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(describeRun(`ip ${args.join(' ')}`, result));
}

export async function createTestNetwork(t: Cleanup, options: { hosts?: TestHostSpec[] } = {}): Promise<TestNetwork> {
  requireTools('ip');
  if (process.getuid?.() !== 0) throw new Error('network namespace tests need root');
  sweepStaleNamespaces();

  const prefix = `lbt-${process.pid}-${++networkCounter}`;
  const bridgeNamespace = `${prefix}-lan`;
  const namespaces = new Set<string>();
  liveNetworks.set(prefix, namespaces);
  // The bridge namespace is reachable as host 'lan' (run tools on the switch, qemu on a tap).
  const hosts = new Map<string, string>([['lan', bridgeNamespace]]);
  const children = new Set<ChildProcess>();
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const child of children) killTree(child, 'SIGTERM');
    await Promise.all([...children].map(async (child) => {
      if (!(await waitExit(child, 3000))) killTree(child, 'SIGKILL');
    }));
    for (const ns of [...namespaces].reverse()) deleteNamespaceSync(ns);
    liveNetworks.delete(prefix);
  };
  t.after(destroy);

  const addNamespace = async (ns: string) => {
    await ip(['netns', 'add', ns]);
    namespaces.add(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // No IPv6: router solicitations and DAD only add noise to captures and logs.
    await runTool('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'], { timeoutMs: 10_000 });
  };

  const nsName = (host: string): string => {
    const ns = hosts.get(host);
    if (!ns) throw new Error(`test network ${prefix} has no host "${host}"`);
    return ns;
  };

  const network: TestNetwork = {
    prefix,
    bridgeNamespace,
    interfaceName: 'eth0',
    bridgeName: 'br0',
    nsName,
    async macOf(host) {
      const result = await runTool('ip', ['-n', nsName(host), '-j', 'link', 'show', 'eth0'], { timeoutMs: 10_000 });
      const parsed = JSON.parse(result.stdout) as Array<{ address: string }>;
      return parsed[0]!.address;
    },
    async addHost(spec) {
      if (!NAME_PATTERN.test(spec.name)) throw new Error(`host name "${spec.name}" must be 1-12 of [a-z0-9]`);
      if (hosts.has(spec.name)) throw new Error(`host "${spec.name}" exists`);
      const ns = `${prefix}-${spec.name}`;
      await addNamespace(ns);
      hosts.set(spec.name, ns);
      await network.addInterface(spec.name, { name: 'eth0', ...(spec.address ? { address: spec.address } : {}), ...(spec.mac ? { mac: spec.mac } : {}) });
      if (spec.defaultRoute) await ip(['-n', ns, 'route', 'add', 'default', 'dev', 'eth0']);
    },
    async addInterface(host, spec) {
      if (!/^[a-z][a-z0-9]{0,14}$/.test(spec.name)) throw new Error(`interface name "${spec.name}" is not valid`);
      const ns = nsName(host);
      const lan = spec.lan ?? network;
      // Unique across networks: a host may plug into another network's bridge.
      const port = `v${++vethCounter}`;
      // Both veth ends are created inside their namespaces: nothing appears in the host's own.
      await ip(['link', 'add', spec.name, 'netns', ns, ...(spec.mac ? ['address', spec.mac] : []), 'type', 'veth', 'peer', 'name', port, 'netns', lan.bridgeNamespace]);
      await ip(['-n', lan.bridgeNamespace, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', lan.bridgeNamespace, 'link', 'set', port, 'up']);
      if (spec.address) await ip(['-n', ns, 'addr', 'add', spec.address, 'dev', spec.name]);
      await ip(['-n', ns, 'link', 'set', spec.name, 'up']);
    },
    async addTap(name = 'tap0') {
      await ip(['-n', bridgeNamespace, 'tuntap', 'add', 'dev', name, 'mode', 'tap']);
      await ip(['-n', bridgeNamespace, 'link', 'set', name, 'master', 'br0']);
      await ip(['-n', bridgeNamespace, 'link', 'set', name, 'up']);
      return { host: 'lan' as const, namespace: bridgeNamespace, interfaceName: name };
    },
    run(host, command, args, runOptions) {
      return runTool('ip', ['netns', 'exec', nsName(host), command, ...args], runOptions);
    },
    async runOk(host, command, args, runOptions) {
      const result = await network.run(host, command, args, runOptions);
      if (result.code !== 0) throw new Error(describeRun(`${command} in ${host}`, result));
      return result;
    },
    spawn(host, command, args, spawnOptions) {
      const child = spawnTracked('ip', ['netns', 'exec', nsName(host), command, ...args], spawnOptions);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    destroy,
  };

  try {
    await addNamespace(bridgeNamespace);
    // forward_delay 0 and no STP: otherwise the bridge drops frames for its first 15 s.
    await ip(['-n', bridgeNamespace, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await ip(['-n', bridgeNamespace, 'link', 'set', 'br0', 'up']);
    for (const host of options.hosts ?? []) await network.addHost(host);
  } catch (error) {
    await destroy();
    throw error;
  }
  return network;
}
