// Each benchmark owns one "## Heading" section of docs/benchmarks.md and rewrites only that
// section, so benchmarks run at different times never erase each other's results.
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Replaces the section that starts with `## heading` (up to the next "## " heading or a
 *  generated-section marker of another benchmark), or appends it when it is not there yet. */
export async function replaceBenchmarkSection(repoRoot: string, heading: string, section: string): Promise<void> {
  const file = path.join(repoRoot, 'docs', 'benchmarks.md');
  let text = '';
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    text = '# Benchmarks\n\n';
  }
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start === -1) {
    const glue = text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
    await fsp.writeFile(file, text + glue + section);
    return;
  }
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^## /.test(lines[i]!) || /^<!--/.test(lines[i]!)) {
      end = i;
      break;
    }
  }
  const rest = lines.slice(end).join('\n');
  const head = [...lines.slice(0, start), ...section.split('\n')].join('\n').replace(/\n*$/, '\n');
  await fsp.writeFile(file, rest ? `${head}\n${rest}` : head);
}
