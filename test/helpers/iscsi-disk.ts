// One iSCSI disk as the initiator tools see it, whoever serves it (a lanboot seat or tgt), and
// how to address it with each Debian initiator: libiscsi URLs (iscsi-ls/inq/test-cu/perf),
// qemu's iscsi block driver options (qemu-img/qemu-io) and iPXE's sanboot URI.
import type { SeatInfo } from './supervisor.js';
import { parsePortal } from './supervisor.js';

export interface Chap {
  user: string;
  secret: string;
}

export interface IscsiDisk {
  server: 'lanboot' | 'tgt';
  host: string;
  port: number;
  targetIqn: string;
  lun: number;
  /** Initiator IQNs allowed to log in. */
  initiatorIqns: string[];
  chap?: Chap;
}

export function diskFromSeat(seat: SeatInfo): IscsiDisk {
  const { host, port } = parsePortal(seat.portal);
  const disk: IscsiDisk = { server: 'lanboot', host, port, targetIqn: seat.targetIqn, lun: seat.lun ?? 0, initiatorIqns: seat.initiatorIqns };
  if (seat.chap) disk.chap = { user: seat.chap.user, secret: seat.chap.secret };
  return disk;
}

/** The first allowed initiator IQN (the one a seat's boot script sets). */
export function initiatorOf(disk: IscsiDisk): string {
  const iqn = disk.initiatorIqns[0];
  if (iqn === undefined) throw new Error(`disk ${disk.targetIqn} allows no initiator`);
  return iqn;
}

/**
 * libiscsi URL: iscsi://[user%secret@]host:port/target-iqn/lun (iscsi-test-cu --help).
 * libiscsi splits user and secret at the first '%' and the credentials at the last '@', so a
 * secret holding either character cannot be expressed: fail loudly rather than log in wrong.
 */
export function libiscsiUrl(disk: IscsiDisk, chap: Chap | undefined = disk.chap): string {
  let auth = '';
  if (chap !== undefined) {
    if (/[%@/]/.test(chap.user) || /[@/]/.test(chap.secret)) throw new Error('CHAP user/secret holds a character a libiscsi URL cannot carry');
    auth = `${chap.user}%${chap.secret}@`;
  }
  const host = disk.host.includes(':') ? `[${disk.host}]` : disk.host;
  return `iscsi://${auth}${host}:${disk.port}/${disk.targetIqn}/${disk.lun}`;
}

/** qemu -blockdev/--image-opts value; commas inside values are doubled (qemu option syntax). */
export function qemuImageOpts(disk: IscsiDisk, options: { initiator?: string; chap?: Chap | null } = {}): string {
  const esc = (v: string) => v.replaceAll(',', ',,');
  const parts = [
    'driver=iscsi',
    'transport=tcp',
    `portal=${esc(disk.host.includes(':') ? `[${disk.host}]` : disk.host)}:${disk.port}`,
    `target=${esc(disk.targetIqn)}`,
    `lun=${disk.lun}`,
    `initiator-name=${esc(options.initiator ?? initiatorOf(disk))}`,
  ];
  const chap = options.chap === null ? undefined : (options.chap ?? disk.chap);
  if (chap !== undefined) parts.push(`user=${esc(chap.user)}`, `password=${esc(chap.secret)}`);
  return parts.join(',');
}

/** iPXE SAN URI (iPXE docs, "iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>"). */
export function ipxeSanUri(disk: IscsiDisk, serverAsSeenByGuest: string): string {
  return `iscsi:${serverAsSeenByGuest}::${disk.port}:${disk.lun}:${disk.targetIqn}`;
}
