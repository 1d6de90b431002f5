/**
 * GET /snapshot: the newest frame. An idle camera is started for it (the request counts as a
 * viewer until a fresh frame arrives) and the request waits, bounded, for that frame.
 */

import type { CameraView } from '../stream/camera-view.js';
import type { Frame, FrameSubscriber } from '../stream/frame-feed.js';
import { formatTimestamp } from '../stream/multipart.js';

export type SnapshotResult = { ok: true; jpeg: Buffer; timestamp: string } | { ok: false; reason: string };

// A copy: the answer may be written after the frame's pooled buffer has gone to a newer frame.
const ok = (frame: Frame): SnapshotResult => ({ ok: true, jpeg: Buffer.from(frame.jpeg), timestamp: formatTimestamp(frame.captureTime) });

export function snapshot(camera: CameraView, timeoutMs: number): Promise<SnapshotResult> {
  const feed = camera.feed;
  return new Promise((resolve) => {
    let settled = false;
    const waiter: FrameSubscriber = { onFrame: (frame) => done(ok(frame)) };
    const timer = setTimeout(() => {
      const error = camera.state === 'error' && camera.lastError ? `: ${camera.lastError.message}` : '';
      done({
        ok: false,
        reason: `camera "${camera.name}" delivered no frame within ${timeoutMs / 1000} s (state ${camera.state}${error})`,
      });
    }, timeoutMs);
    function done(result: SnapshotResult): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      feed.unsubscribe(waiter);
      resolve(result);
    }
    // subscribe() hands back the current frame when capture is running; else wait for a fresh one.
    const current = feed.subscribe(waiter);
    if (current) done(ok(current));
  });
}
