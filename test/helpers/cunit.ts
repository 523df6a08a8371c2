// Reads the CUnit "automated" XML report iscsi-test-cu writes with -x
// (CUnitAutomated-Results.xml in its working directory). Pure: text in, results out.
// The report is tool output, not trusted: bounded, and anything unexpected is an error.

export interface CunitTest {
  suite: string;
  name: string;
  passed: boolean;
  /** Failed assertions (file:line condition), empty when passed. */
  failures: string[];
}

export interface CunitReport {
  tests: CunitTest[];
  /** Suites whose set-up failed: their tests did not run (CUNIT_RUN_SUITE_FAILURE). */
  suitesNotRun: { suite: string; reason: string }[];
  summary: { total: number; run: number; succeeded: number; failed: number };
}

const MAX_REPORT_CHARS = 64 * 1024 * 1024;

const text = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();

export function parseCunitResults(xml: string): CunitReport {
  if (xml.length > MAX_REPORT_CHARS) throw new Error(`CUnit report too large (${xml.length} chars)`);
  if (!xml.includes('<CUNIT_TEST_RUN_REPORT>')) throw new Error('not a CUnit automated results report');
  const tests: CunitTest[] = [];
  const suitesNotRun: CunitReport['suitesNotRun'] = [];
  const suiteBlocks = xml.split('<CUNIT_RUN_SUITE>').slice(1);
  for (const block of suiteBlocks) {
    const body = block.split('</CUNIT_RUN_SUITE>')[0] ?? '';
    const suite = text(/<SUITE_NAME>([\s\S]*?)<\/SUITE_NAME>/.exec(body)?.[1]);
    if (suite === '') throw new Error('CUnit suite without a name');
    if (body.includes('<CUNIT_RUN_SUITE_FAILURE>')) {
      suitesNotRun.push({ suite, reason: text(/<FAILURE_REASON>([\s\S]*?)<\/FAILURE_REASON>/.exec(body)?.[1]) });
      continue;
    }
    // One record per test; a failed test holds one CUNIT_RUN_TEST_FAILURE per failed assertion.
    for (const record of body.split('<CUNIT_RUN_TEST_RECORD>').slice(1)) {
      const r = record.split('</CUNIT_RUN_TEST_RECORD>')[0] ?? '';
      const name = text(/<TEST_NAME>([\s\S]*?)<\/TEST_NAME>/.exec(r)?.[1]);
      if (name === '') throw new Error(`CUnit test without a name in suite ${suite}`);
      const failures: string[] = [];
      for (const f of r.split('<CUNIT_RUN_TEST_FAILURE>').slice(1)) {
        const file = text(/<FILE_NAME>([\s\S]*?)<\/FILE_NAME>/.exec(f)?.[1]);
        const line = text(/<LINE_NUMBER>([\s\S]*?)<\/LINE_NUMBER>/.exec(f)?.[1]);
        const condition = text(/<CONDITION>([\s\S]*?)<\/CONDITION>/.exec(f)?.[1]);
        failures.push(`${file}:${line} ${decodeEntities(condition)}`);
      }
      const prev = tests.find((x) => x.suite === suite && x.name === name);
      if (prev !== undefined) {
        // CUnit writes one record per failed assertion of the same test: merge them.
        prev.failures.push(...failures);
        prev.passed = prev.passed && failures.length === 0;
      } else tests.push({ suite, name, passed: failures.length === 0, failures });
    }
  }
  const summaryRecord = /<TYPE>\s*Test Cases\s*<\/TYPE>\s*<TOTAL>\s*(\d+)\s*<\/TOTAL>\s*<RUN>\s*(\d+)\s*<\/RUN>\s*<SUCCEEDED>\s*(\d+)\s*<\/SUCCEEDED>\s*<FAILED>\s*(\d+)\s*<\/FAILED>/.exec(xml);
  if (summaryRecord === null) throw new Error('CUnit report has no test-case summary (run cut short?)');
  const [, total, run, succeeded, failed] = summaryRecord.map(Number) as [number, number, number, number, number];
  return { tests, suitesNotRun, summary: { total, run, succeeded, failed } };
}

function decodeEntities(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * The suites lanboot must pass completely (docs/conformance.md): Read*, Write*, Verify*, ReadCapacity*,
 * Inquiry, TestUnitReady, Mandatory and iSCSI*. The globs are taken literally, so Read* also
 * covers ReadDefectData* and ReadOnly, Write* covers WriteSame*, WriteVerify*, WriteAtomic16.
 */
export function isRequiredSuite(suite: string): boolean {
  return /^(Read|Write|Verify|ReadCapacity|iSCSI)/.test(suite) || ['Inquiry', 'TestUnitReady', 'Mandatory'].includes(suite);
}
