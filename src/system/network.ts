// Facts about this machine's network, for the addresses lanboot advertises.
import os from 'node:os';

/** The first non-internal IPv4 address of the box, or undefined when it has none. */
export function firstExternalIpv4(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string | undefined {
  for (const name of Object.keys(interfaces).sort()) {
    for (const info of interfaces[name] ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return undefined;
}

/** The host PCs should connect to: the listen address itself, or, when listening on every
 *  address, the box's first external IPv4 (127.0.0.1 when it has none). */
export function advertisedHost(listen: string, interfaces?: NodeJS.Dict<os.NetworkInterfaceInfo[]>): string {
  if (listen !== '0.0.0.0') return listen;
  return firstExternalIpv4(interfaces) ?? '127.0.0.1';
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
