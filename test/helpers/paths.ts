/**
 * Where things are, from a test's point of view. Every helper runs as dist/test/helpers/*.js,
 * one level below dist/test/, whatever tier the test importing it is in, so paths computed here
 * do not change when a test moves between test/unit, test/integration and test/load.
 */

import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = new URL('../../..', import.meta.url);
/** The emulated camera's images (1.jpg, 2.jpg, 3.jpg). */
export const EMULATED_ASSETS = new URL('assets/emulated/', REPO_ROOT);

/** The file path of a compiled fixture module in dist/test/fixtures/ (`name` like 'stall-driver.js'). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** A driver that opens but never delivers a frame. */
export const NEVER_DELIVERS_DRIVER = fixturePath('never-delivers-driver.js');
/** A driver that delivers a few frames, then stalls. */
export const STALL_DRIVER = fixturePath('stall-driver.js');
