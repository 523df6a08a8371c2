// libiscsi's conformance suite against a seat's disk on a running lanboot. tgt passes 222 of
// 230 in this run on this machine (docs/conformance.md); lanboot must pass at least as many,
// and every test of the required suites.
// LANBOOT_TEST_TARGET=tgt runs the same against tgt (how the baseline was taken).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseCunitResults, isRequiredSuite, type CunitReport } from '../helpers/cunit.js';
import { startDiskServer } from '../helpers/disk-server.js';
import { makeGoldenImage } from '../helpers/images.js';
import { libiscsiUrl } from '../helpers/iscsi-disk.js';
import { describeRun, repoRoot, requireTools, runTool, tempDir } from '../helpers/tools.js';

/** tgt's count in the same run on this machine (docs/conformance.md). */
const TGT_PASSED = 222;
// Small on purpose: several tests read or write the whole disk, and the full `npm test` must
// stay well under 45 minutes on 2 cores. 16 MiB runs the suite in about 20 s against tgt.
const DISK_BYTES = 16 * 1024 * 1024;
// About 20 s against tgt; a hung target must not eat the suite's 45-minute budget.
const RUN_TIMEOUT_MS = 10 * 60_000;
const INITIATOR_1 = 'iqn.2026-11.test.lanboot:conformance-1';
const INITIATOR_2 = 'iqn.2026-11.test.lanboot:conformance-2';

test('the CUnit report parser reads a real iscsi-test-cu report (tgt, this machine)', async () => {
  const xml = await fsp.readFile(path.join(repoRoot, 'test', 'fixtures', 'cunit-results-tgt.xml'), 'utf8');
  const report = parseCunitResults(xml);
  assert.deepEqual(report.summary, { total: 230, run: 230, succeeded: 222, failed: 8 });
  assert.equal(report.tests.length, 230);
  assert.equal(report.tests.filter((t) => t.passed).length, 222);
  const failed = report.tests.filter((t) => !t.passed).map((t) => `${t.suite}.${t.name}`);
  assert.ok(failed.includes('iSCSIdatasn.iSCSIDataSnInvalid'));
  assert.equal(report.tests.find((t) => t.name === 'iSCSIDataSnInvalid')?.failures.length, 4, 'one entry per failed assertion');
  assert.throws(() => parseCunitResults('<html></html>'), /not a CUnit/);
  assert.throws(() => parseCunitResults(xml.slice(0, xml.indexOf('<CUNIT_RUN_SUMMARY>'))), /no test-case summary/);
});

test('iscsi-test-cu --dataloss -t ALL passes on a lanboot seat disk', { timeout: RUN_TIMEOUT_MS + 120_000 }, async (t) => {
  requireTools('iscsi-test-cu');
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, DISK_BYTES, 'random');
  const server = await startDiskServer(t);
  // Two allowed initiators: the reservation and multi-nexus tests log in as both (-i and -I).
  const disk = await server.addDisk({ name: 'conformance', image: 'conformance', goldenPath: golden.path, initiators: [INITIATOR_1, INITIATOR_2] });
  assert.ok(disk.chap, 'CHAP is on: the suite logs in with user%secret@ in the URL');

  // -x writes CUnitAutomated-Results.xml into the working directory.
  const run = await runTool('iscsi-test-cu', ['--dataloss', '-t', 'ALL', '-x', '-i', INITIATOR_1, '-I', INITIATOR_2, libiscsiUrl(disk)], {
    cwd: work,
    timeoutMs: RUN_TIMEOUT_MS,
  });
  assert.equal(run.timedOut, false, describeRun('iscsi-test-cu', run));
  const resultsFile = path.join(work, 'CUnitAutomated-Results.xml');
  assert.ok(fs.existsSync(resultsFile), describeRun('iscsi-test-cu wrote no XML report', run));
  let report: CunitReport;
  try {
    report = parseCunitResults(await fsp.readFile(resultsFile, 'utf8'));
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${describeRun('iscsi-test-cu', run)}`);
  }

  const failed = report.tests.filter((x) => !x.passed);
  const requiredFailed = failed.filter((x) => isRequiredSuite(x.suite));
  const requiredNotRun = report.suitesNotRun.filter((s) => isRequiredSuite(s.suite));
  const lines = [
    `iscsi-test-cu against ${server.kind}: ${report.summary.succeeded} of ${report.summary.total} passed (tgt: ${TGT_PASSED} of 230)`,
    ...failed.map((x) => `FAILED ${x.suite}.${x.name}${isRequiredSuite(x.suite) ? ' [required]' : ''}: ${x.failures.slice(0, 3).join('; ')}`),
    ...report.suitesNotRun.map((s) => `NOT RUN suite ${s.suite}: ${s.reason}`),
  ];
  for (const line of lines) t.diagnostic(line);
  // Keep the last report for docs/conformance.md (test/.cache is git-ignored).
  const cache = path.join(repoRoot, 'test', '.cache', 'conformance');
  await fsp.mkdir(cache, { recursive: true });
  await fsp.writeFile(path.join(cache, `${server.kind}-summary.txt`), `${new Date().toISOString()}\n${lines.join('\n')}\n`);
  await fsp.copyFile(resultsFile, path.join(cache, `${server.kind}-CUnitAutomated-Results.xml`));

  assert.ok(report.summary.run > 0 && report.tests.length === report.summary.run, `parsed ${report.tests.length} tests, summary says ${report.summary.run} ran`);
  assert.deepEqual(requiredNotRun, [], 'every required suite ran');
  assert.deepEqual(
    requiredFailed.map((x) => `${x.suite}.${x.name}`),
    [],
    'every test of Read*, Write*, Verify*, ReadCapacity*, Inquiry, TestUnitReady, Mandatory, iSCSI* passes',
  );
  assert.ok(report.summary.succeeded >= TGT_PASSED, `${report.summary.succeeded} passed; tgt passes ${TGT_PASSED}:\n${lines.join('\n')}`);
});
