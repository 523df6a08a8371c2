// The box as a qemu VM, for the power-cut tests: `lanboot serve` runs inside a small Linux
// guest whose data disk is a virtio disk with no host cache (cache=none: O_DIRECT on the image
// file). Killing qemu then is a power cut for the box: what the guest kernel had not written
// to its disk (its page cache, the ext4 journal in memory) is gone, unlike a kill -9 of the
// process, after which the host's page cache still holds every write.
//
// Made of parts this machine has, nothing installed into the host:
//   - kernel: Debian's cloud kernel (linux-image-*-cloud-amd64, virtio drivers as modules,
//     ext4 built in), from apt's archive cache or `apt-get download`;
//   - initramfs: the host's busybox and its libraries, the virtio modules, /init (below);
//   - system disk (read-only ext4, made with `mkfs.ext4 -d`, no mount): the host's node and
//     e2fsck with their libraries, this checkout's dist/, addon and node_modules, stage2.sh
//     and check.mjs (below);
//   - data disk (ext4, cache=none): made once from a data dir prepared on the host by a real
//     `lanboot serve` (image imported, seats added), then only ever written by the guest.
// The guest reaches nothing but the host's loopback (slirp, restrict=on); the host reaches
// the guest's iSCSI port through a hostfwd on 127.0.0.1. Every qemu is killed and waited for
// when the test ends, also on failure.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeNewcArchive, type CpioEntry } from '../fixtures/linux-disk/cpio.js';
import { indexModules, readModule, resolveModuleOrder, sharedLibraries } from '../fixtures/linux-disk/build.js';
import { type Cleanup, describeRun, freePort, killTree, repoRoot, requireTools, runTool, spawnTracked, waitExit } from './tools.js';

const MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_rng'];
const APT_ARCHIVES = '/var/cache/apt/archives';
const cacheDir = path.join(repoRoot, 'test', '.cache', 'box-vm');

export class BoxVmError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BoxVmError';
  }
}

async function run(command: string, args: string[], what: string, timeoutMs = 300_000): Promise<string> {
  const r = await runTool(command, args, { timeoutMs });
  if (r.code !== 0) throw new BoxVmError('BOX_VM_TOOL_FAILED', describeRun(what, r));
  return r.stdout;
}

/** The cloud kernel package file: apt's archive cache, our cache, or `apt-get download`. */
async function kernelDeb(): Promise<string> {
  const pattern = /^linux-image-\d[^_]*-cloud-amd64_.*_amd64\.deb$/;
  for (const dir of [cacheDir, APT_ARCHIVES]) {
    const found = fs.existsSync(dir) ? (await fsp.readdir(dir)).filter((f) => pattern.test(f)).sort() : [];
    if (found.length > 0) return path.join(dir, found[found.length - 1]!);
  }
  const depends = await run('apt-cache', ['depends', 'linux-image-cloud-amd64'], 'apt-cache depends linux-image-cloud-amd64', 60_000);
  const name = /Depends:\s*(linux-image-\d\S*-cloud-amd64)/.exec(depends)?.[1];
  if (name === undefined) throw new BoxVmError('BOX_VM_NO_KERNEL', 'apt knows no linux-image-cloud-amd64 kernel (run apt-get update)');
  await fsp.mkdir(cacheDir, { recursive: true });
  const r = await runTool('apt-get', ['download', name], { cwd: cacheDir, timeoutMs: 600_000 });
  if (r.code !== 0) throw new BoxVmError('BOX_VM_NO_KERNEL', describeRun(`apt-get download ${name}`, r));
  return kernelDeb();
}

export interface BoxSystem {
  kernel: string;
  initrd: string;
  systemDisk: string;
}

const INIT = `#!/bin/sh
# /init of the box VM's initramfs: virtio drivers, the read-only system disk, then stage2.sh
# from it as PID 1 in a chroot.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do [ -n "$m" ] && insmod "/lib/modules/$m"; done < /etc/box-modules
n=0
while [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; do
  n=$((n + 1)); [ $n -lt 100 ] || { echo "BOX-ERROR no virtio disks"; echo o > /proc/sysrq-trigger; }
  sleep 0.1
done
mount -t ext4 -o ro /dev/vda /sysroot || { echo "BOX-ERROR cannot mount the system disk"; echo o > /proc/sysrq-trigger; }
mount -t devtmpfs devtmpfs /sysroot/dev
mount -t proc proc /sysroot/proc
mount -t sysfs sysfs /sysroot/sys
mount -t tmpfs -o mode=1777 tmpfs /sysroot/tmp
mount -t tmpfs tmpfs /sysroot/run
exec chroot /sysroot /bin/sh /box/stage2.sh
`;

const STAGE2 = String.raw`#!/bin/sh
# PID 1 of the box VM. After a power cut: mount the data disk (ext4 replays its journal: the
# only recovery, nothing manual), unmount, e2fsck -fn (must find it clean), mount it again,
# check the database and golden files (check.mjs), then run lanboot serve until the power goes.
export PATH=/bin:/sbin:/usr/bin
export HOME=/tmp
# The data dir's path as lanboot knew it on the host that prepared it (the database holds
# absolute file paths); under /tmp, a tmpfs here.
data=$(sed -n 's/.*box\.data=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p "$data"
echo "BOX-STAGE stage2"
mount -t ext4 /dev/vdb "$data" || { echo "BOX-ERROR mount of the data disk failed"; echo o > /proc/sysrq-trigger; }
umount "$data"
e2fsck -fn /dev/vdb > /tmp/fsck.log 2>&1
rc=$?
echo "BOX-FSCK rc=$rc"
[ $rc -eq 0 ] || sed 's/^/BOX-FSCK-LOG /' /tmp/fsck.log
mount -t ext4 /dev/vdb "$data" || { echo "BOX-ERROR second mount failed"; echo o > /proc/sysrq-trigger; }
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
node /box/check.mjs "$data"
echo "BOX-STAGE serve"
# The supervisor's log (pino JSON lines) goes to the console, where the host reads it.
(node /app/dist/src/cli/main.js serve --data "$data" --iscsi-port 3260 --http-port 8080 --listen 10.0.2.15 2>&1
 echo "BOX-ERROR lanboot serve exited: $?") | sed 's/^/BOX-LOG /'
sync
echo o > /proc/sysrq-trigger
`;

/**
 * The database and golden files as the guest found them after power-on: SQLite's own checks,
 * the rows that must survive (seats, image versions, import jobs) and each golden file's
 * SHA-256. One line on the console: BOX-CHECK {json}.
 */
const CHECK = `import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
const require = createRequire('/app/package.json');
const Database = require('better-sqlite3');
const data = process.argv[2];
const out = { integrity: null, foreignKeys: null, seats: [], versions: [], jobs: [], golden: {} , error: null };
try {
  const db = new Database(path.join(data, 'lanboot.db'));
  out.integrity = db.pragma('integrity_check', { simple: true });
  out.foreignKeys = db.pragma('foreign_key_check').length;
  out.seats = db.prepare('SELECT name, mode FROM seats ORDER BY id').all();
  out.versions = db.prepare('SELECT * FROM image_versions ORDER BY rowid').all().map((v) => ({ ...v }));
  out.jobs = db.prepare('SELECT id, state FROM imports ORDER BY id').all();
  db.close();
  const images = path.join(data, 'images');
  for (const name of fs.existsSync(images) ? fs.readdirSync(images).sort() : []) {
    for (const file of fs.readdirSync(path.join(images, name)).filter((f) => f.endsWith('.img')).sort()) {
      out.golden[name + '/' + file] = createHash('sha256').update(fs.readFileSync(path.join(images, name, file))).digest('hex');
    }
  }
} catch (e) {
  out.error = String(e && e.message || e);
}
console.log('BOX-CHECK ' + JSON.stringify(out));
`;

async function copyWithLibraries(stage: string, executable: string): Promise<void> {
  const files = [executable, ...(await sharedLibraries(executable, []))];
  for (const file of files) {
    const target = path.join(stage, file);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await fsp.copyFile(fs.realpathSync(file), target);
    await fsp.chmod(target, 0o755);
  }
}

/** Builds the kernel, initramfs and system disk into `work` (the system disk holds this checkout's dist/). */
export async function buildBoxSystem(work: string, log: (line: string) => void = () => {}): Promise<BoxSystem> {
  requireTools('qemu-system-x86_64', 'dpkg-deb', 'mkfs.ext4', 'e2fsck', 'busybox', 'ldd');
  const deb = await kernelDeb();
  const root = path.join(work, 'kernel-root');
  await fsp.mkdir(root, { recursive: true });
  log(`box-vm: kernel from ${deb}`);
  await run('dpkg-deb', ['-x', deb, root], `dpkg-deb -x ${deb}`);
  const versions = await fsp.readdir(path.join(root, 'lib', 'modules'));
  const version = versions[0]!;
  const kernel = path.join(root, 'boot', `vmlinuz-${version}`);
  const moduleIndex = await indexModules(path.join(root, 'lib', 'modules', version));
  const lookup = async (name: string) => {
    const file = moduleIndex.get(name);
    return file === undefined ? undefined : readModule(file);
  };
  const { order, missingRoots } = await resolveModuleOrder(MODULES, lookup);
  if (missingRoots.length > 0) throw new BoxVmError('BOX_VM_MODULE_MISSING', `${version} lacks ${missingRoots.join(', ')}`);

  // --- initramfs
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (dir: string) => {
    const parts = dir.split('/').filter((p) => p.length > 0);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ kind: 'dir', path: d });
      }
    }
  };
  const addFile = (target: string, data: Buffer, mode = 0o644) => {
    addDir(path.posix.dirname(target));
    entries.push({ kind: 'file', path: target, data, mode });
  };
  for (const d of ['dev', 'proc', 'sys', 'sysroot', 'bin', 'etc', 'lib/modules']) addDir(d);
  entries.push({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  addFile('init', Buffer.from(INIT), 0o755);
  const busybox = '/usr/bin/busybox';
  addFile('bin/busybox', await fsp.readFile(busybox), 0o755);
  for (const applet of ['sh', 'mount', 'insmod', 'sleep', 'chroot']) entries.push({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  for (const lib of await sharedLibraries(busybox, [])) addFile(lib.replace(/^\/+/, ''), await fsp.readFile(fs.realpathSync(lib)), 0o755);
  for (const name of order) addFile(`lib/modules/${name}.ko`, (await lookup(name))!);
  addFile('etc/box-modules', Buffer.from(order.map((n) => `${n}.ko`).join('\n') + '\n'));
  const initrd = path.join(work, 'initrd.gz');
  await fsp.writeFile(initrd, gzipSync(writeNewcArchive(entries), { level: 6 }));

  // --- system disk
  const stage = path.join(work, 'system');
  for (const d of ['bin', 'sbin', 'usr/bin', 'dev', 'proc', 'sys', 'tmp', 'run', 'box', 'app']) await fsp.mkdir(path.join(stage, d), { recursive: true });
  await copyWithLibraries(stage, process.execPath);
  if (process.execPath !== '/usr/bin/node') await fsp.symlink(process.execPath, path.join(stage, 'usr/bin/node'));
  await copyWithLibraries(stage, busybox);
  for (const applet of ['sh', 'mount', 'umount', 'ip', 'sed', 'tail', 'sleep', 'cat', 'sync', 'mkdir']) await fsp.symlink('/usr/bin/busybox', path.join(stage, 'bin', applet));
  await copyWithLibraries(stage, '/usr/sbin/e2fsck');
  await fsp.symlink('/usr/sbin/e2fsck', path.join(stage, 'sbin', 'e2fsck'));
  await fsp.writeFile(path.join(stage, 'box', 'stage2.sh'), STAGE2, { mode: 0o755 });
  await fsp.writeFile(path.join(stage, 'box', 'check.mjs'), CHECK);
  const app = path.join(stage, 'app');
  await fsp.copyFile(path.join(repoRoot, 'package.json'), path.join(app, 'package.json'));
  await fsp.cp(path.join(repoRoot, 'dist'), path.join(app, 'dist'), { recursive: true });
  await fsp.mkdir(path.join(app, 'build', 'Release'), { recursive: true });
  await fsp.copyFile(path.join(repoRoot, 'build', 'Release', 'lanboot_native.node'), path.join(app, 'build', 'Release', 'lanboot_native.node'));
  // Runtime dependencies only matter, but the tree is copied whole (dereferenced: the
  // checkout's node_modules may be a symlink), minus the big build-time-only packages.
  const modules = fs.realpathSync(path.join(repoRoot, 'node_modules'));
  const skip = new Set(['typescript', 'playwright-core', '@types', '.cache']);
  await fsp.cp(modules, path.join(app, 'node_modules'), { recursive: true, dereference: true, filter: (src) => !skip.has(path.relative(modules, src).split(path.sep)[0]!) });
  const systemDisk = path.join(work, 'system.img');
  await run('mkfs.ext4', ['-q', '-F', '-L', 'boxsys', '-d', stage, systemDisk, '640M'], 'mkfs.ext4 system disk');
  await fsp.rm(stage, { recursive: true, force: true });
  log(`box-vm: kernel ${version}, modules ${order.join(' ')}`);
  return { kernel, initrd, systemDisk };
}

/** An ext4 data disk image holding a copy of `dataDir` (a data dir lanboot prepared on the host). */
export async function makeDataDisk(dataDir: string, image: string, sizeMiB = 256): Promise<void> {
  await run('mkfs.ext4', ['-q', '-F', '-L', 'lanboot-data', '-d', dataDir, image, `${sizeMiB}M`], 'mkfs.ext4 data disk');
}

export interface BoxCheck {
  integrity: string | null;
  foreignKeys: number | null;
  seats: { name: string; mode: string }[];
  versions: Record<string, unknown>[];
  jobs: { id: number; state: string }[];
  golden: Record<string, string>;
  error: string | null;
}

export interface BoxBoot {
  /** 127.0.0.1 port forwarded to the guest's iSCSI port. */
  iscsiPort: number;
  fsckCode: number;
  check: BoxCheck;
  /** ms from qemu start until the iSCSI port answered a login. */
  bootMs: number;
  /** The power cut: SIGKILL to qemu, waited for. */
  powerCut(): Promise<void>;
  /** Pulls (false) or plugs (true) the box's network cable: qemu's `set_link`. */
  setLink(up: boolean): Promise<void>;
  console(): string;
}

export interface BootBoxOptions {
  system: BoxSystem;
  dataDisk: string;
  /** The data dir's path when it was prepared (under /tmp, no spaces): the guest mounts the disk there. */
  dataPath: string;
  timeoutMs?: number;
  memoryMiB?: number;
}

/** Powers the box on and waits until its check line is printed and lanboot listens. */
export async function bootBox(t: Cleanup, options: BootBoxOptions, ready: (port: number) => Promise<boolean>): Promise<BoxBoot> {
  const iscsiPort = await freePort();
  const monitorSocket = path.join(path.dirname(options.dataDisk), `monitor-${iscsiPort}.sock`);
  const started = Date.now();
  const args = [
    '-machine', 'pc,accel=tcg',
    '-m', String(options.memoryMiB ?? 1024),
    '-smp', '1',
    '-display', 'none', '-monitor', `unix:${monitorSocket.replaceAll(',', ',,')},server=on,wait=off`, '-serial', 'stdio', '-no-reboot',
    '-kernel', options.system.kernel,
    '-initrd', options.system.initrd,
    '-append', `console=ttyS0,115200 panic=-1 loglevel=3 quiet box.data=${options.dataPath}`,
    '-drive', `file=${options.system.systemDisk.replaceAll(',', ',,')},format=raw,if=virtio,readonly=on,cache=unsafe`,
    // The data disk: no host cache, so the image file holds what the guest's disk holds.
    '-drive', `file=${options.dataDisk.replaceAll(',', ',,')},format=raw,if=virtio,cache=none,aio=threads`,
    '-netdev', `user,id=lan,restrict=on,hostfwd=tcp:127.0.0.1:${iscsiPort}-10.0.2.15:3260`,
    '-device', 'virtio-net-pci,netdev=lan',
    // Entropy for the guest's getrandom(2) at boot (Node asks for it before anything else).
    '-device', 'virtio-rng-pci',
  ];
  const qemu: ChildProcess = spawnTracked('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (b: Buffer) => {
    if (output.length < 4 * 1024 * 1024) output += b.toString('latin1');
  };
  qemu.stdout?.on('data', collect);
  qemu.stderr?.on('data', collect);
  t.after(async () => {
    killTree(qemu);
    await waitExit(qemu, 10_000);
  });
  const timeoutMs = options.timeoutMs ?? 300_000;
  const powerCut = async () => {
    killTree(qemu);
    await waitExit(qemu, 10_000);
  };
  const fail = async (why: string): Promise<never> => {
    await powerCut();
    throw new BoxVmError('BOX_VM_BOOT', `${why}\n--- console tail\n${output.split('\n').slice(-40).join('\n')}`);
  };
  let check: BoxCheck | undefined;
  let fsckCode: number | undefined;
  for (;;) {
    if (Date.now() - started > timeoutMs) return fail(`the box did not come up within ${timeoutMs} ms`);
    if (qemu.exitCode !== null || qemu.signalCode !== null) return fail(`qemu exited (${qemu.exitCode ?? qemu.signalCode})`);
    const error = /BOX-ERROR (.*)/.exec(output);
    if (error) return fail(`the box failed: ${error[1]}`);
    fsckCode ??= ((m) => (m ? Number(m[1]) : undefined))(/BOX-FSCK rc=(\d+)/.exec(output));
    if (check === undefined) {
      // Only a whole line: the console arrives in chunks, and a '}' inside the JSON could end a partial match.
      const m = /BOX-CHECK (\{.*\})\r?\n/.exec(output);
      if (m) check = JSON.parse(m[1]!) as BoxCheck;
    }
    if (check !== undefined && /BOX-STAGE serve/.test(output) && (await ready(iscsiPort))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const setLink = (up: boolean) =>
    new Promise<void>((resolve, reject) => {
      // The human monitor: one command line, answered with the prompt again.
      const socket = net.connect(monitorSocket);
      let answer = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new BoxVmError('BOX_VM_MONITOR', `no answer to set_link from the qemu monitor: ${answer}`));
      }, 10_000);
      socket.on('data', (b) => {
        answer += b.toString('latin1');
        if (answer.split('(qemu)').length >= 3) {
          clearTimeout(timer);
          socket.end();
          resolve();
        }
      });
      socket.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.write(`set_link lan ${up ? 'on' : 'off'}\n`);
    });
  return { iscsiPort, fsckCode: fsckCode ?? -1, check: check!, bootMs: Date.now() - started, powerCut, setLink, console: () => output };
}
