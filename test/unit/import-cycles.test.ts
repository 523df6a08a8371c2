// No circular imports in src/: madge (docs/decisions/0020-madge-import-cycles.md) reads the
// TypeScript sources, type-only imports included, resolving our `.js` specifiers through
// tsconfig.json. The graph is checked to be the real one first, so that a resolver that
// found nothing cannot make the cycle check pass.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import madge from 'madge';
import { repoRoot } from '../helpers/tools.js';

test('src/ has no circular imports', { timeout: 120_000 }, async () => {
  const result = await madge(path.join(repoRoot, 'src'), {
    fileExtensions: ['ts', 'tsx'],
    tsConfig: path.join(repoRoot, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
  });
  const graph = result.obj();
  assert.deepEqual(result.warnings().skipped, [], 'every import resolved to a file');
  // Known edges: a value import, a type-only import, a .tsx page and the native loader.
  assert.ok(graph['web/app.ts']?.includes('web/api/seats.ts'), 'web/app.ts -> web/api/seats.ts');
  assert.ok(graph['web/app.ts']?.includes('web/context.ts'), 'type-only import web/app.ts -> web/context.ts');
  assert.ok(graph['web/ui/index.ts']?.includes('web/ui/pages/home.tsx'), 'web/ui/index.ts -> web/ui/pages/home.tsx');
  assert.ok(graph['storage/formats.ts']?.includes('native/index.ts'), 'storage/formats.ts -> native/index.ts');
  assert.ok(Object.keys(graph).length > 50, `the graph covers src/ (${Object.keys(graph).length} files)`);
  const cycles = result.circular();
  assert.deepEqual(cycles, [], `circular imports:\n${cycles.map((c) => [...c, c[0]].join(' > ')).join('\n')}`);
});
