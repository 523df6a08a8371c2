// By hand, for whoever fixes a conformance failure: runs iscsi-test-cu (verbose, -V) against a
// fresh lanboot seat (or tgt) set up exactly as the conformance test does, and keeps the log.
//
//   node dist/test/conformance/run-iscsi-test-cu.js [TESTS] [--target lanboot|tgt] [--out FILE]
//   TESTS: iscsi-test-cu's -t value: an fnmatch(3) pattern such as ALL, ALL.Read16, 'ALL.[CP]*.[IB]*'
//         (a comma-separated list runs its items in reverse order)
//
// Not a test (no .test suffix): scripts/test.sh does not run it.
import fsp from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startDiskServer } from '../helpers/disk-server.js';
import { makeGoldenImage } from '../helpers/images.js';
import { libiscsiUrl } from '../helpers/iscsi-disk.js';
import { requireTools, runTool, tempDir, type Cleanup } from '../helpers/tools.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: 'string', default: 'lanboot' },
    out: { type: 'string', default: 'iscsi-test-cu.log' },
    'disk-mib': { type: 'string', default: '16' },
  },
});
const kind = values.target;
if (kind !== 'lanboot' && kind !== 'tgt') throw new Error('--target must be lanboot or tgt');
const tests = positionals[0] ?? 'ALL';
const INITIATORS = ['iqn.2026-11.test.lanboot:conformance-1', 'iqn.2026-11.test.lanboot:conformance-2'] as const;

requireTools('iscsi-test-cu');
const steps: (() => unknown)[] = [];
const cleanup: Cleanup = { after: (fn) => void steps.push(fn) };
try {
  const work = await tempDir(cleanup);
  const golden = await makeGoldenImage(work, Number(values['disk-mib']) * 1024 * 1024, 'random');
  const server = await startDiskServer(cleanup, kind);
  const disk = await server.addDisk({ name: 'conformance', image: 'conformance', goldenPath: golden.path, initiators: [...INITIATORS] });
  const run = await runTool('iscsi-test-cu', ['--dataloss', '-t', tests, '-V', '-i', INITIATORS[0], '-I', INITIATORS[1], libiscsiUrl(disk)], {
    cwd: work,
    timeoutMs: 20 * 60_000,
  });
  await fsp.writeFile(values.out!, `${run.stdout}\n--- stderr\n${run.stderr}`);
  const failures = run.stdout.split('\n').filter((l) => l.includes('[FAILED]'));
  console.log(`${kind}: iscsi-test-cu -t ${tests}: exit ${run.code}, ${failures.length} [FAILED] lines; log in ${values.out}`);
  for (const l of failures.slice(0, 20)) console.log(l.trim());
  if (server.lanboot) await fsp.writeFile(`${values.out}.lanboot.log`, server.lanboot.logs());
} finally {
  for (const step of steps.reverse()) await step();
}
