/**
 * Counting and logging the frames a stream driver drops (not whole JPEGs, larger than a ring
 * slot) without letting the source flood the log. Every drop is counted (context.countDrop: an
 * atomic add on the ring's counters, which /status and /metrics show); lines are few:
 *
 * - a burst of drops (drops with no good frame between them) is announced by its first drop, one
 *   line naming what was wrong with it;
 * - when an announced burst of several ends (a good frame, or the stream ends), one line sums it up;
 * - a burst that begins less than `intervalMs` after the last line is not announced then: its
 *   drops are only counted, and the next announcement says how many went unlogged. A long burst
 *   that began in such a quiet period is announced once the interval has passed.
 *
 * So there are at most two lines per interval whatever the source sends: a camera that alternates
 * a broken part with a good one, or sends empty parts at line rate (millions a second), costs the
 * log, and the thread that writes it, a line or two every 10 s.
 */

import type { DriverContext } from '../types.js';

/** Least time between two announced bursts, ms. */
export const DROP_LOG_INTERVAL_MS = 10_000;

export type StreamDropReason = 'corrupt' | 'oversize';

export class DropLog {
  /** Drops in the current burst (0: no burst). */
  private burst = 0;
  /** The current burst was announced (by a line), ... */
  private announced = false;
  /** ... after this many of its drops, which went to `unlogged` (a burst begun in a quiet period). */
  private announcedAfter = 0;
  /** Drops counted but in no line yet: those of bursts, or of burst starts, that were not announced. */
  private unlogged = 0;
  private lastLineAt = -Infinity; // ms, performance.now()

  constructor(
    private readonly context: Pick<DriverContext, 'countDrop' | 'log'>,
    /** Where the frames came from, for the lines: "from source http://cam/x". */
    private readonly from: string,
    private readonly intervalMs = DROP_LOG_INTERVAL_MS,
    /** The clock, ms (tests pass their own). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Counts `frames` dropped frames. `detail` says what was wrong (one line); a function is only
   * called when a line is written.
   */
  drop(reason: StreamDropReason, detail: string | (() => string), frames = 1): void {
    this.context.countDrop(reason, frames);
    this.burst += frames;
    if (this.announced) return; // counted in the burst's summary
    const now = this.now();
    if (now - this.lastLineAt < this.intervalMs) {
      this.unlogged += frames;
      return;
    }
    const text = typeof detail === 'function' ? detail() : detail;
    const also = this.unlogged > 0 ? ` (and ${this.unlogged} more since the last report)` : '';
    this.context.log('warn', `dropped ${frames === 1 ? 'a frame' : `${frames} frames`} ${this.from}: ${text}${also}`);
    this.lastLineAt = now;
    this.unlogged = 0;
    this.announced = true;
    this.announcedAfter = this.burst - frames;
  }

  /** A good frame arrived: the burst, if any, is over. */
  frame(): void {
    if (this.burst > 0) this.endBurst();
  }

  /**
   * The stream ended (a connection closed, a tool exited): the burst is over. Drops no line has
   * reported yet are reported now if the log has been quiet for the interval, else by the next
   * line (a source that reconnects in a loop must not buy a line per connection).
   */
  end(): void {
    if (this.burst > 0) this.endBurst();
    if (this.unlogged > 0 && this.now() - this.lastLineAt >= this.intervalMs) {
      this.context.log('warn', `dropped ${this.unlogged} more frame(s) ${this.from}`);
      this.lastLineAt = this.now();
      this.unlogged = 0;
    }
  }

  private endBurst(): void {
    const since = this.burst - this.announcedAfter;
    if (this.announced && since > 1) {
      this.context.log('warn', `dropped ${since} frames in a row ${this.from}`);
      this.lastLineAt = this.now();
    }
    this.burst = 0;
    this.announced = false;
    this.announcedAfter = 0;
  }
}
