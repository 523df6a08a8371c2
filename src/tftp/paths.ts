// Maps a TFTP file name onto a file inside the server root, refusing anything that could leave it.
//
// TFTP has no authentication (RFC 1350 section 1, RFC 1350 "Security Considerations"), so the
// root is the only boundary. The check is in two steps: a pure, lexical normalization (no '..',
// no backslash, no NUL) and then a realpath check on disk so a symlink cannot point outside.
import fs from 'node:fs/promises';
import path from 'node:path';

export type PathRefusalCode =
  | 'TFTP_PATH_EMPTY'
  | 'TFTP_PATH_PARENT'
  | 'TFTP_PATH_BACKSLASH'
  | 'TFTP_PATH_NUL'
  | 'TFTP_PATH_CONTROL'
  | 'TFTP_PATH_OUTSIDE_ROOT'
  | 'TFTP_PATH_NOT_FOUND'
  | 'TFTP_PATH_NOT_A_FILE';

// Stays inside src/tftp: the server turns it into a TFTP ERROR packet (not a LanbootError).
export class PathRefusedError extends Error {
  readonly code: PathRefusalCode;
  constructor(code: PathRefusalCode, message: string) {
    super(message);
    this.name = 'PathRefusedError';
    this.code = code;
  }
}

/**
 * Pure: turns a requested name into path segments relative to the root, or throws.
 * A leading '/' means the root itself (PXE firmware often asks for "/undionly.kpxe"), the way a
 * chrooted tftpd sees it; an absolute path can therefore never name a file outside the root.
 * Case is kept as given: the root's file system decides what matches.
 */
export function normalizeRequestPath(requested: string): string[] {
  if (requested.includes('\0')) throw new PathRefusedError('TFTP_PATH_NUL', 'file name holds a NUL byte');
  // Backslashes are DOS separators ("\boot\x") on some clients; allowing them as names would let
  // the same file be reached under two spellings, and a Windows-style "..\" trick slip past us.
  if (requested.includes('\\')) throw new PathRefusedError('TFTP_PATH_BACKSLASH', 'file name holds a backslash');
  if (/[\x00-\x1f\x7f]/.test(requested)) throw new PathRefusedError('TFTP_PATH_CONTROL', 'file name holds a control character');
  const segments: string[] = [];
  for (const segment of requested.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new PathRefusedError('TFTP_PATH_PARENT', 'file name holds a ".." segment');
    segments.push(segment);
  }
  if (segments.length === 0) throw new PathRefusedError('TFTP_PATH_EMPTY', 'file name names no file');
  return segments;
}

/** Returns true when `candidate` (already real) is `root` or below it. */
export function isInsideRoot(realRoot: string, candidate: string): boolean {
  const relative = path.relative(realRoot, candidate);
  if (relative === '') return true;
  if (relative === '..' || relative.startsWith(`..${path.sep}`)) return false;
  return !path.isAbsolute(relative);
}

/**
 * Resolves `segments` under `realRoot` (which must itself be a realpath) to a real path of a
 * regular file inside the root. Symlinks are followed only when their target stays inside.
 */
export async function resolveInsideRoot(realRoot: string, segments: readonly string[]): Promise<string> {
  const joined = path.join(realRoot, ...segments);
  let real: string;
  try {
    real = await fs.realpath(joined);
  } catch {
    throw new PathRefusedError('TFTP_PATH_NOT_FOUND', 'file not found');
  }
  if (!isInsideRoot(realRoot, real)) {
    throw new PathRefusedError('TFTP_PATH_OUTSIDE_ROOT', 'file resolves outside the TFTP root');
  }
  return real;
}
