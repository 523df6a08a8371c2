// Cleanup for a benchmark script (what node:test's t.after does for tests): run in reverse, always.
import type { Cleanup } from '../../test/helpers/tools.js';

export class Teardown implements Cleanup {
  private readonly steps: (() => unknown)[] = [];
  after(fn: () => unknown): void {
    this.steps.push(fn);
  }
  async run(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (e) {
        console.error('cleanup step failed:', e);
      }
    }
  }
}
