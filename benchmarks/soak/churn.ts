/**
 * Churn: --churn-rate times a second, connect a viewer, read its first whole frame and drop the
 * connection. Each cycle is test/helpers/mjpeg-client.ts's MjpegClient, the tests' strict
 * stream reader: a part whose Content-Length disagrees with where the next boundary starts is a
 * failed cycle, not a frame.
 */

import { MjpegClient } from '../../test/helpers/mjpeg-client.js';

/** A churn cycle that has not seen its first frame by then failed. */
const CHURN_TIMEOUT_MS = 10_000;
/** A first part larger than this fails the cycle, bytes (the server's frames are far smaller). */
const MAX_PART_BYTES = 4 * 1024 * 1024;

export interface ChurnStats {
  ok: number;
  failed: number;
  /** Cycles not started because too many were still in flight (the server is not keeping up). */
  skipped: number;
  firstFailure: string | null;
}

/** One cycle: resolves with null once the first whole frame arrived, or with why it failed. */
async function churnCycle(port: number, path: string): Promise<string | null> {
  const deadline = performance.now() + CHURN_TIMEOUT_MS;
  let client: MjpegClient | undefined;
  try {
    client = await MjpegClient.connect({ port, path, headTimeoutMs: CHURN_TIMEOUT_MS, retainBodies: 0, maxPartBytes: MAX_PART_BYTES });
    if (client.status !== 200) return `status ${client.status}`;
    await client.waitForFrames(1, { timeoutMs: Math.max(1, deadline - performance.now()), what: 'the first frame' });
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await client?.close();
  }
}

export class Churn {
  readonly stats: ChurnStats = { ok: 0, failed: 0, skipped: 0, firstFailure: null };
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxInFlight: number;

  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly rate: number,
  ) {
    // Five seconds' worth: beyond that the server is not answering, and piling up more
    // connections would only measure the pile.
    this.maxInFlight = Math.max(10, Math.ceil(rate * 5));
  }

  start(): void {
    if (this.rate <= 0) return;
    const started = performance.now();
    let n = 0;
    // Paced against the clock rather than by a fixed interval, so timer lateness does not lower the rate.
    const tick = (): void => {
      const due = Math.floor(((performance.now() - started) / 1000) * this.rate);
      for (; n < due; n++) this.cycle();
      this.timer = setTimeout(tick, Math.max(1, 1000 / this.rate));
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private cycle(): void {
    if (this.inFlight >= this.maxInFlight) {
      this.stats.skipped++;
      return;
    }
    this.inFlight++;
    void churnCycle(this.port, this.path).then((failure) => {
      this.inFlight--;
      if (failure === null) this.stats.ok++;
      else {
        this.stats.failed++;
        this.stats.firstFailure ??= failure;
      }
    });
  }
}
