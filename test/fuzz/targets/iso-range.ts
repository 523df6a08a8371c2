// The Range header parser of the ISO route (src/iso/range.ts, RFC 9110 14.2): any header
// gives a decision, never an exception, and every range it grants lies inside the file.
import { decideRange, ifRangeMatches, MAX_RANGES } from '../../../src/iso/range.js';
import type { FuzzTarget } from '../fuzzer.js';

export const target: FuzzTarget = {
  maxLength: 1100,
  dictionary: ['bytes=', 'BYTES =', '-', ',', ' ', '0', '9007199254740993', '500-', '-500', '"etag"', 'W/'],
  fuzz(data: Buffer): void {
    // First 6 bytes: the file size; the rest: the header.
    const size = data.length >= 6 ? data.readUIntBE(0, 6) : 1000;
    const header = data.subarray(6).toString('latin1');
    const decision = decideRange(header, size);
    if (decision.kind === 'ranges') {
      if (decision.ranges.length === 0 || decision.ranges.length > MAX_RANGES) throw new Error(`${decision.ranges.length} ranges granted`);
      for (const range of decision.ranges) {
        if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.start > range.end || range.end >= size) {
          throw new Error(`range ${range.start}-${range.end} outside a file of ${size} bytes (header ${JSON.stringify(header)})`);
        }
      }
    }
    ifRangeMatches(header, '"abc"');
  },
};
