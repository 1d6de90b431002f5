/**
 * The soak's slow readers: viewers reading 10 KB/s (test/helpers/slow-reader.ts), each
 * reconnecting every SLOW_SESSION_S, so the server's --slow-client-timeout (its default, 30 s)
 * disconnects slow viewers again and again over the run.
 */

import { SlowReader } from '../../test/helpers/slow-reader.js';

/** Seconds a slow reader stays connected before it reconnects (twice the server's default timeout). */
export const SLOW_SESSION_S = 60;
export const SLOW_RATE = 10_000; // bytes per second

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SlowStats {
  connections: number;
  frames: number;
  bytes: number;
  /** Connections that failed to open, or protocol errors: a torn frame would be one. */
  errors: number;
  firstError: string | null;
}

export class SlowReaders {
  readonly stats: SlowStats = { connections: 0, frames: 0, bytes: 0, errors: 0, firstError: null };
  private readonly live = new Set<SlowReader>();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private stopNow: () => void = () => {};
  /** Resolves when stop() is called: ends every wait at once. */
  private readonly stopped = new Promise<void>((resolve) => (this.stopNow = resolve));

  constructor(
    private readonly port: number,
    private readonly path: string,
    count: number,
  ) {
    // Staggered over one session, so the readers do not all reconnect at the same moment.
    for (let i = 0; i < count; i++) this.loops.push(this.loop((i * SLOW_SESSION_S * 1000) / Math.max(1, count) / 4));
  }

  /** Frames and bytes read so far, including the readers still connected. */
  totals(): { frames: number; bytes: number } {
    let frames = this.stats.frames;
    let bytes = this.stats.bytes;
    for (const r of this.live) {
      frames += r.frames;
      bytes += r.bytesRead;
    }
    return { frames, bytes };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopNow();
    await Promise.all([...this.live].map((r) => r.close()));
    await Promise.all(this.loops);
  }

  private async loop(delayMs: number): Promise<void> {
    await Promise.race([sleep(delayMs), this.stopped]);
    while (this.running) {
      let reader: SlowReader | undefined;
      try {
        reader = await SlowReader.connect({ port: this.port, path: this.path, bytesPerSecond: SLOW_RATE });
      } catch (e) {
        this.error((e as Error).message);
        await Promise.race([sleep(1000), this.stopped]);
        continue;
      }
      this.stats.connections++;
      this.live.add(reader);
      // A session ends at its time or when the reader's connection ends, whichever is first.
      // (The server's disconnect reaches a slow reader only after it has read the megabytes
      // still in its socket buffers, minutes at 10 KB/s: the session time comes first.)
      await Promise.race([reader.whenClosed(), sleep(SLOW_SESSION_S * 1000), this.stopped]);
      await reader.close();
      this.live.delete(reader);
      this.stats.frames += reader.frames;
      this.stats.bytes += reader.bytesRead;
      if (reader.error !== undefined) this.error(reader.error);
    }
  }

  private error(message: string): void {
    if (!this.running) return;
    this.stats.errors++;
    this.stats.firstError ??= message;
  }
}
