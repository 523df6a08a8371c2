// What a PC acts on in the boot script lanboot serves it: the iSCSI disk and its credentials.
import assert from 'node:assert/strict';

export interface DiskRef {
  host: string;
  port: number;
  targetIqn: string;
  initiatorIqn: string;
  chap?: { user: string; secret: string } | undefined;
}

/** The disk of a sanboot/sanhook script, and whether it keeps the SAN drive (install seats). */
export function refFromScript(script: string): DiskRef & { keepSan: boolean } {
  const uri = /^san(?:boot|hook)(?: --drive 0x80)? iscsi:([0-9.]+)::(\d+):(\d+):(\S+) \|\| goto failed$/m.exec(script);
  assert.ok(uri, `no sanboot/sanhook line in:\n${script}`);
  const get = (re: RegExp) => re.exec(script)?.[1];
  const user = get(/^set username (\S+)$/m);
  const secret = get(/^set password (\S+)$/m);
  return {
    host: uri[1]!,
    port: Number(uri[2]),
    targetIqn: uri[4]!,
    initiatorIqn: get(/^set initiator-iqn (\S+)$/m)!,
    chap: user && secret ? { user, secret } : undefined,
    keepSan: /^set keep-san 1$/m.test(script),
  };
}
