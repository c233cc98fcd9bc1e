// Temp directories that tap removes after the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export function tempDir(t: Teardownable, prefix = 'upshift-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
