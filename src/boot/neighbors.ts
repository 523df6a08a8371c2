// Which MAC is behind an IPv4 address on the LAN, from the kernel's neighbor (ARP) table.
// TFTP and HTTP requests carry an IP address only; the boot timeline is keyed by MAC. Right
// after a PC talked to us the kernel has resolved its address, so the table answers.
import fs from 'node:fs';
import net from 'node:net';

/** /proc/net/arp is a few lines per neighbor; a table this big is not worth parsing. */
export const MAX_ARP_TABLE_BYTES = 1024 * 1024;

/** ATF_COM (include/uapi/linux/if_arp.h): the entry is complete (the MAC is known). */
const ATF_COM = 0x02;

/** Parses /proc/net/arp ("IP address  HW type  Flags  HW address  Mask  Device") into
 *  IP -> lower-case MAC, complete entries only. Pure; malformed lines are skipped. */
export function parseArpTable(text: string): Map<string, string> {
  const table = new Map<string, string>();
  const lines = text.split('\n');
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const [ip, , flagsText, mac] = fields as [string, string, string, string];
    if (!net.isIPv4(ip) || !/^0x[0-9a-f]{1,4}$/i.test(flagsText)) continue;
    if ((parseInt(flagsText, 16) & ATF_COM) === 0) continue;
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || mac === '00:00:00:00:00:00') continue;
    table.set(ip, mac.toLowerCase());
  }
  return table;
}

let arpBuffer: Buffer | undefined;

/** The MAC of `address` from /proc/net/arp, or undefined (not resolved, loopback, IPv6). */
export function macForAddress(address: string, arpFile = '/proc/net/arp'): string | undefined {
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (!net.isIPv4(ip)) return undefined;
  let text: string;
  try {
    const fd = fs.openSync(arpFile, 'r');
    try {
      // One buffer for every lookup: a lookup per TFTP transfer must not zero 1 MiB each time.
      arpBuffer ??= Buffer.allocUnsafe(MAX_ARP_TABLE_BYTES);
      const buffer = arpBuffer;
      // procfs files report size 0: read until EOF or the bound.
      let length = 0;
      for (;;) {
        const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
        if (length === buffer.length) break;
      }
      text = buffer.subarray(0, length).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return parseArpTable(text).get(ip);
}
