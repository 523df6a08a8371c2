// The HTTP Range request header (RFC 9110 14.1.2, 14.2), as a pure function: the header's
// text and the representation's length in, what to answer out. No I/O.
//
//   Range = ranges-specifier = range-unit "=" range-set          (RFC 9110 14.1.1)
//   range-set  = 1#range-spec
//   range-spec = int-range / suffix-range / other-range
//   int-range  = first-pos "-" [ last-pos ]
//   suffix-range = "-" suffix-length
//
// The input is hostile: it is length-limited, the number of ranges is capped and every
// number is bounded, and nothing here throws.

/** Longer Range headers are ignored (no client we serve sends more than a few dozen bytes). */
export const MAX_RANGE_HEADER_BYTES = 1024;
/** More ranges than this in one header: ignored (RFC 9110 14.2 lets a server ignore a
 *  range-set with many small or overlapping ranges: it is a denial-of-service pattern). */
export const MAX_RANGES = 16;
/** Digits in one position. 2^53 has 16; more only means "past any file we hold". */
const MAX_DIGITS = 20;

/** One satisfiable byte range, both ends inclusive (as in Content-Range). */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeDecision =
  /** No Range header, or one to ignore (RFC 9110 14.2): answer 200 with the whole file. */
  | { kind: 'whole'; ignored?: string }
  /** Answer 416 with `Content-Range: bytes * /size` (RFC 9110 15.5.17). */
  | { kind: 'unsatisfiable' }
  /** Answer 206 (RFC 9110 15.3.7); ranges are satisfiable, clamped to the file, in request order. */
  | { kind: 'ranges'; ranges: ByteRange[] };

/** Digits to a number; saturates at MAX_SAFE_INTEGER (no file is that long), undefined if not digits. */
function position(text: string): number | undefined {
  if (text.length === 0 || text.length > MAX_DIGITS || !/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Number.MAX_SAFE_INTEGER;
}

/**
 * Decides how to answer a GET/HEAD with this Range header for a representation of `size`
 * bytes (a safe integer). `header` undefined = no Range header.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'whole' };
  if (header.length > MAX_RANGE_HEADER_BYTES) return { kind: 'whole', ignored: 'Range header too long' };
  const equals = header.indexOf('=');
  if (equals < 0) return { kind: 'whole', ignored: 'Range header without a unit' };
  // Range units are case-insensitive (RFC 9110 14.1); only "bytes" is known here.
  if (header.slice(0, equals).trim().toLowerCase() !== 'bytes') return { kind: 'whole', ignored: 'Range unit is not bytes' };
  // 1#element: empty list elements and OWS around commas are allowed (RFC 9110 5.6.1).
  const specs = header
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec.length > 0);
  if (specs.length === 0) return { kind: 'whole', ignored: 'empty range-set' };
  if (specs.length > MAX_RANGES) return { kind: 'whole', ignored: `more than ${MAX_RANGES} ranges` };
  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    const dash = spec.indexOf('-');
    if (dash < 0) return { kind: 'whole', ignored: 'malformed range-spec' };
    const firstText = spec.slice(0, dash);
    const lastText = spec.slice(dash + 1);
    if (firstText === '') {
      // suffix-range: the last N bytes (RFC 9110 14.1.2); N = 0 is unsatisfiable.
      const suffix = position(lastText);
      if (suffix === undefined) return { kind: 'whole', ignored: 'malformed suffix-range' };
      if (suffix > 0 && size > 0) satisfiable.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const first = position(firstText);
    if (first === undefined) return { kind: 'whole', ignored: 'malformed first-pos' };
    let last: number | undefined;
    if (lastText !== '') {
      last = position(lastText);
      // last-pos < first-pos makes the whole header invalid (RFC 9110 14.1.1).
      if (last === undefined || last < first) return { kind: 'whole', ignored: 'malformed last-pos' };
    }
    // Satisfiable iff first-pos < length (RFC 9110 14.1.1); last-pos is clamped.
    if (first < size) satisfiable.push({ start: first, end: last === undefined ? size - 1 : Math.min(last, size - 1) });
  }
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'ranges', ranges: satisfiable };
}

/** Whether an If-Range validator lets the Range apply (RFC 9110 13.1.5): only a strong
 *  entity-tag equal to ours does (we send no Last-Modified to compare dates with). */
export function ifRangeMatches(ifRange: string | undefined, etag: string): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  return !value.startsWith('W/') && value === etag;
}
