/**
 * Reusable part buffers for one frame feed (one camera, one HTTP thread).
 *
 * A feed lays every new frame out as one part buffer (multipart.ts) shared by its viewers. A new
 * 20-200 KB buffer per frame was a malloc, fresh pages to fault in and an ArrayBuffer for the
 * garbage collector to find and free, 30 times a second per camera per thread: with few viewers
 * that was a fifth of the HTTP thread's CPU. Parts are therefore counted references into
 * buffers that go back to this pool once no one can still be reading them:
 *
 * - the feed holds its newest frame (it is offered again on keepalives and to viewers that
 *   drain);
 * - a viewer holds the frame its transport is still sending, from send() until drained() or the
 *   end of the connection (a transport that keeps the buffer, as uWS's tryEnd tail and node's
 *   writable stream do, reports the part in flight until it lets go of it);
 * - anything else that keeps bytes past the call that received the frame (a snapshot answer)
 *   copies them.
 *
 * A buffer goes back exactly once, when its frame's count falls to 0; a frame is never
 * retained again after that (only the feed hands frames out, and only its newest one).
 */

/** Free buffers kept for reuse; beyond this they are left to the garbage collector. */
const KEEP_FREE = 4;
/** Buffers are sized to the frame plus this share, so frames that grow a little still fit. */
const HEADROOM = 1.25;
/** Capacity is rounded up to this (bytes). */
const GRANULE = 4096;

export class PartPool {
  private readonly free: Buffer[] = [];
  /** Buffers allocated so far (for tests and telemetry). */
  allocated = 0;

  /** A buffer of at least `bytes` bytes: a free one that fits, else a new one. */
  take(bytes: number): Buffer {
    const free = this.free;
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i]!;
      // Not one far larger than needed: after a resolution change it would pin the old size.
      if (b.length >= bytes && b.length <= 4 * bytes + GRANULE) {
        free[i] = free[free.length - 1]!;
        free.pop();
        return b;
      }
    }
    this.allocated++;
    // Unpooled by Buffer: parts outlive any call and are larger than its pool threshold anyway.
    return Buffer.allocUnsafeSlow(Math.ceil((bytes * HEADROOM) / GRANULE) * GRANULE);
  }

  /** Takes back a buffer no one reads any more. */
  give(buffer: Buffer): void {
    if (this.free.length < KEEP_FREE) this.free.push(buffer);
  }
}

/**
 * A frame's part in a pooled buffer, with its count of holders. `part` and `jpeg` are views into
 * the buffer; they must not be read after the last release().
 */
export class PooledPart {
  private holds = 0;

  constructor(
    private readonly backing: Buffer,
    private pool: PartPool | null,
  ) {}

  retain(): void {
    this.holds++;
  }

  release(): void {
    if (this.holds <= 0) return;
    if (--this.holds === 0 && this.pool !== null) {
      this.pool.give(this.backing);
      this.pool = null; // given back once, whatever happens after
    }
  }
}
