// The target a test runs against: a real lanboot (default) or, with LANBOOT_TEST_TARGET=tgt,
// tgt serving copies of the same golden images. The tgt mode exists to prove the harnesses
// themselves against a known target (and gives the baseline numbers in docs/conformance.md);
// the suite always runs against lanboot.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Chap, type IscsiDisk, diskFromSeat } from './iscsi-disk.js';
import { type Lanboot, addSeat, importImage, startLanboot } from './supervisor.js';
import { startTgt, type Tgt } from './tgt.js';
import { type Cleanup, tempDir } from './tools.js';

export interface DiskSpec {
  /** Seat name. */
  name: string;
  /** Image name (lanboot imports goldenPath under it once). */
  image: string;
  goldenPath: string;
  /** Allowed initiator IQNs; default: the seat's own generated one. */
  initiators?: string[];
  /** CHAP on (default) or off. */
  chap?: boolean;
  mode?: 'fresh' | 'persistent';
}

export interface DiskServer {
  kind: 'lanboot' | 'tgt';
  addDisk(spec: DiskSpec): Promise<IscsiDisk>;
  /** The lanboot under test (undefined for tgt). */
  lanboot?: Lanboot;
  /** The tgt (undefined for lanboot). */
  tgt?: Tgt;
  /** PID of the target process, for CPU accounting. */
  pid(): number;
}

export function targetKindFromEnv(): 'lanboot' | 'tgt' {
  const kind = process.env['LANBOOT_TEST_TARGET'] ?? 'lanboot';
  if (kind !== 'lanboot' && kind !== 'tgt') throw new Error(`LANBOOT_TEST_TARGET must be lanboot or tgt, not ${kind}`);
  return kind;
}

export async function startDiskServer(t: Cleanup, kind: 'lanboot' | 'tgt' = targetKindFromEnv()): Promise<DiskServer> {
  if (kind === 'lanboot') {
    const lanboot = await startLanboot(t);
    const imported = new Set<string>();
    return {
      kind,
      lanboot,
      pid: () => lanboot.pid,
      async addDisk(spec) {
        if (!imported.has(spec.image)) {
          await importImage(lanboot, spec.goldenPath, spec.image);
          imported.add(spec.image);
        }
        const seat = { name: spec.name, image: spec.image } as Parameters<typeof addSeat>[1];
        if (spec.initiators !== undefined) seat.initiators = spec.initiators;
        if (spec.chap !== undefined) seat.chap = spec.chap;
        if (spec.mode !== undefined) seat.mode = spec.mode;
        return diskFromSeat(await addSeat(lanboot, seat));
      },
    };
  }
  const tgt = await startTgt(t);
  const work = await tempDir(t, 'lanboot-tgt-');
  return {
    kind,
    tgt,
    pid: () => tgt.pid,
    async addDisk(spec) {
      // tgt has no copy-on-write: each disk gets its own copy of the golden file.
      const backingFile = path.join(work, `${spec.name}.img`);
      await fsp.copyFile(spec.goldenPath, backingFile);
      const initiators = spec.initiators ?? [`iqn.2026-11.test.lanboot:seat:${spec.name}`];
      const chap: Chap | undefined = spec.chap === false ? undefined : { user: `seat-${spec.name}`, secret: crypto.randomBytes(8).toString('hex') };
      const diskSpec: Parameters<Tgt['addDisk']>[0] = { targetIqn: `iqn.2026-11.test.tgt:${spec.name}`, backingFile, initiators };
      if (chap !== undefined) diskSpec.chap = chap;
      return tgt.addDisk(diskSpec);
    },
  };
}
