/**
 * A viewer kept connected through a hostile scenario (churn, descriptor exhaustion) to show that
 * normal viewers are unharmed: it counts frames that are not whole JPEGs of their Content-Length
 * and the longest time it went without a frame.
 */

import type { TestContext } from 'node:test';
import { isCompleteJpeg, MjpegClient } from './mjpeg-client.js';

export class WatchedViewer {
  /** Frames that were not whole JPEGs of their declared Content-Length. */
  incomplete = 0;
  private longestGap = 0;
  private lastFrameAt = performance.now();

  private constructor(readonly client: MjpegClient) {}

  /** Connects to /video_feed, closed when the test ends; resolves after its first 5 frames. */
  static async connect(t: TestContext, port: number): Promise<WatchedViewer> {
    let watched: WatchedViewer | undefined;
    const client = await MjpegClient.connect({
      port,
      path: '/video_feed',
      retainBodies: 1,
      headTimeoutMs: 10_000,
      onFrame: (f) => watched?.onFrame(f.body, f.bodyLength, f.contentLength),
    });
    watched = new WatchedViewer(client);
    t.after(() => client.close());
    await client.waitForFrames(5, { timeoutMs: 10_000 });
    return watched;
  }

  /** Measures gaps afresh from now (call when the scenario starts). */
  resetGaps(): void {
    this.longestGap = 0;
    this.lastFrameAt = performance.now();
  }

  /** The longest gap since resetGaps(), counting the time since the last frame. */
  longestGapMs(): number {
    return Math.max(this.longestGap, performance.now() - this.lastFrameAt);
  }

  private onFrame(body: Buffer, bodyLength: number, contentLength: number | undefined): void {
    if (!isCompleteJpeg(body) || bodyLength !== contentLength) this.incomplete++;
    const now = performance.now();
    this.longestGap = Math.max(this.longestGap, now - this.lastFrameAt);
    this.lastFrameAt = now;
  }
}
