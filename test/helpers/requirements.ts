/**
 * Tests that need a system package (ffmpeg, OpenCV, Chromium) run for real in CI, which
 * installs them. On a machine without one, such a test is reported as skipped with the reason,
 * never silently passed; `.ci/run` fails when anything was skipped.
 */

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

/** True if `command` runs (`command -version` or similar exits 0). */
export function hasCommand(command: string, args: readonly string[] = ['-version']): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** True if a module can be resolved from the project. */
export function hasModule(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The reason to skip, or undefined when every requirement is met. */
export function missing(requirements: Record<string, boolean>): string | undefined {
  const absent = Object.entries(requirements)
    .filter(([, ok]) => !ok)
    .map(([what]) => what);
  return absent.length ? `needs ${absent.join(' and ')} (installed by .ci/run)` : undefined;
}
