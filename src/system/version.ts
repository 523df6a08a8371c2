// lanboot's version, read from package.json at run time (one source of truth).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function lanbootVersion(): string {
  if (cached === undefined) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    // src/system when run from source, dist/src/system when built.
    for (const up of ['../..', '../../..']) {
      try {
        const pkg = JSON.parse(fs.readFileSync(path.resolve(here, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'lanboot' && typeof pkg.version === 'string') {
          cached = pkg.version;
          break;
        }
      } catch {
        // Not at this level; try the next one up.
      }
    }
    cached ??= '0.0.0-unknown';
  }
  return cached;
}
