/**
 * Frame pacing for drivers whose source has no clock of its own (still images, folders).
 */

import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Yields once immediately, then every 1/fps seconds on a fixed schedule (no drift), until the
 * signal aborts (the pending sleep then rejects with an AbortError). If the consumer falls more
 * than one interval behind, the schedule restarts from now instead of bursting to catch up.
 */
export async function* ticks(fps: number, signal: AbortSignal): AsyncGenerator<number, void, undefined> {
  const interval = 1000 / fps; // ms
  let next = performance.now();
  for (let n = 0; ; n++) {
    const wait = next - performance.now();
    if (wait > 1) await sleep(wait, undefined, { signal });
    signal.throwIfAborted();
    yield n;
    next += interval;
    if (performance.now() - next > interval) next = performance.now();
  }
}
