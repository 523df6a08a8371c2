// The ISO library: the ISO 9660 files kept with golden images (DATA/images/<name>/iso/, see
// docs/images.md), and the one URL each is served at on the LAN HTTP port:
//
//   http://HOST:PORT/iso/<image>/<file>.iso
//
// Both parts are names validated when the file was imported (names.ts NAME_PATTERN,
// image-store.ts ISO_FILE): characters that need no escaping in a URL path or an iPXE
// script, no '/', no "..". A request is looked up by those two names in the database; no
// path is ever built from it. The URL stays the same when the same file name is imported
// again (the ETag, the file's SHA-256, changes).
import type { ImageRepository, IsoRow } from '../db/images.js';
import { NAME_PATTERN } from '../config/names.js';
import { ISO_FILE } from '../storage/image-store.js';

/** URL path prefix of the served ISO files. */
export const ISO_URL_PREFIX = '/iso/';

export function isoUrlPath(imageName: string, fileName: string): string {
  return `${ISO_URL_PREFIX}${imageName}/${fileName}`;
}

export function isoUrl(host: string, port: number, imageName: string, fileName: string): string {
  return `http://${port === 80 ? host : `${host}:${port}`}${isoUrlPath(imageName, fileName)}`;
}

/** Strong entity-tag of a stored ISO: its SHA-256 (RFC 9110 8.8.3). */
export function isoEtag(row: Pick<IsoRow, 'sha256'>): string {
  return `"${row.sha256}"`;
}

export class IsoLibrary {
  constructor(private readonly images: ImageRepository) {}

  list(): IsoRow[] {
    return this.images.listIsos();
  }

  /** The ISO served at /iso/<imageName>/<fileName>, or undefined (also for names that could
   *  never have been stored). */
  find(imageName: string, fileName: string): IsoRow | undefined {
    if (!NAME_PATTERN.test(imageName) || !ISO_FILE.test(fileName)) return undefined;
    return this.images.listIsos(imageName).find((row) => row.fileName === fileName);
  }
}
