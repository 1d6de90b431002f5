/**
 * The frame ring: one SharedArrayBuffer per camera, one writer (the capture worker), any number
 * of readers in any threads. Frames are published with an Atomics sequence counter; readers wait
 * on that counter with Atomics.waitAsync and always take the newest frame.
 *
 * This file is the frame slots of a camera's shared buffer; the memory layout is drawn in
 * ring-layout.ts, and the same buffer also carries capture control (capture-control.ts) and
 * counters (ring-stats.ts).
 *
 *   LATEST     sequence number of the newest published frame, 0 before the first one. Readers
 *              Atomics.waitAsync on this field.
 *   slot SEQ   sequence number of the frame the slot holds; 0 while the slot is invalid (never
 *              written, or about to be overwritten).
 *
 * Sequence numbers run 1, 2, 3 ... and frame s lives in slot s % N. They wrap before 2^31 at a
 * multiple of N (back to N, never to 0) so the slot mapping stays round-robin across the wrap and
 * 0 keeps meaning "invalid". Readers compare sequence numbers for equality only.
 *
 * Publish (single writer), frame s into slot i = s % N:
 *   1. copy the JPEG into slot i and store LEN and the timestamp. Slot i was invalidated
 *      (SEQ = 0) when frame s - 1 was published, so no reader accepts it while it changes;
 *   2. Atomics.store(slot i SEQ, s)                  the slot is valid again, holding frame s;
 *   3. Atomics.store(slot (s+1) % N SEQ, 0)          invalidate the slot the NEXT publish overwrites;
 *   4. Atomics.store(LATEST, s); Atomics.notify(LATEST) wake every waiting reader in every thread.
 *
 * Read (any thread, never blocks):
 *   1. s = Atomics.load(LATEST); i = s % N; accept only if Atomics.load(slot i SEQ) === s;
 *   2. read LEN and the timestamp, copy the bytes out of the slot;
 *   3. validate: Atomics.compareExchange(slot i SEQ, s, s) === s, else discard the copy and retry
 *      with the then-newest frame. A torn frame is never handed on.
 *
 * Why this is race-free: the writer only ever overwrites a slot whose SEQ it set to 0 one whole
 * publish earlier (step 3), and every change to a slot's bytes happens while SEQ is 0. A reader
 * that copied bytes while they changed must observe SEQ !== s in its validation, because the
 * invalidation store precedes the overwrite. Doing the invalidation one publish ahead rather than
 * right before the copy matters on weakly ordered CPUs (the Pi's ARM cores): a plain store may
 * become visible before an earlier atomic store to another address, but not before the
 * sequentially consistent LATEST store and the futex wake-up of Atomics.notify that lie between
 * the invalidation and the overwrite. On the read side, the validation is a read-modify-write
 * rather than a load because an acquire load does not stop the earlier plain loads of the copy
 * from completing after it; the RMW's release half does. The cost is one slot: N slots hold at
 * most N - 1 readable frames, and a reader has N - 2 publish intervals to finish its copy.
 *
 * A frame larger than a slot is dropped and counted (DROPPED_OVERSIZE), never truncated.
 */

import {
  attachRing,
  createRingBuffer,
  dataOffsetFor,
  kDroppedOversize,
  kHeaderFields,
  kLatestSeq,
  kPublished,
  kSlotFields,
  kSlotLength,
  kSlotSeq,
  kSlotTimeSec,
  kSlotTimeUsec,
  type RingGeometry,
} from './ring-layout.js';

/** Where `FrameRing.read` copies a frame's JPEG bytes. */
export interface FrameDestination {
  bytes: Uint8Array;
  /** Offset of the JPEG within `bytes`. */
  jpegOffset: number;
}

/** A frame copied out of the ring and validated. */
export interface RingRead<D extends FrameDestination> {
  seq: number;
  /** Capture time, Unix epoch milliseconds (with microsecond fraction). */
  captureTime: number;
  /** JPEG length, bytes. */
  length: number;
  dest: D;
}

/** Largest sequence number + 1: a multiple of the slot count below 2^31. */
function wrapFor(slots: number): number {
  return Math.floor(0x7fffffff / slots) * slots;
}

/**
 * A view of a frame ring. The same class serves the writer and readers: construct it over a
 * SharedArrayBuffer created by `FrameRing.create` (in any thread) and use `publish` from exactly
 * one thread, `read` from any.
 */
export class FrameRing {
  readonly buffer: SharedArrayBuffer;
  readonly header: Int32Array;
  readonly slots: number;
  readonly slotBytes: number;
  private readonly bytes: Uint8Array;
  private readonly dataOffset: number;
  private readonly wrap: number;

  /** Allocates and initialises a new ring (the camera's whole shared buffer). */
  static create(geometry: RingGeometry): FrameRing {
    return new FrameRing(createRingBuffer(geometry));
  }

  /** Attaches to an existing ring, checking its magic number and layout version. */
  constructor(buffer: SharedArrayBuffer) {
    const { header, slots, slotBytes } = attachRing(buffer);
    this.buffer = buffer;
    this.header = header;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.dataOffset = dataOffsetFor(slots);
    this.bytes = new Uint8Array(buffer);
    this.wrap = wrapFor(slots);
  }

  /** Sequence number of the newest frame, 0 before the first. */
  latestSeq(): number {
    return Atomics.load(this.header, kLatestSeq);
  }

  /** Byte length of the newest frame, 0 before the first; for gauges (not validated against a publish in progress). */
  latestLength(): number {
    const seq = Atomics.load(this.header, kLatestSeq);
    return seq === 0 ? 0 : Atomics.load(this.header, kHeaderFields + (seq % this.slots) * kSlotFields + kSlotLength);
  }

  // ---- writer side (exactly one thread) ----

  /**
   * Publishes one JPEG frame. Returns its sequence number, or 0 if it was dropped for being
   * larger than a slot.
   * @param captureTime Unix epoch milliseconds (fractions kept to the microsecond)
   */
  publish(jpeg: Uint8Array, captureTime: number): number {
    const h = this.header;
    if (jpeg.byteLength > this.slotBytes) {
      Atomics.add(h, kDroppedOversize, 1);
      return 0;
    }
    const prev = Atomics.load(h, kLatestSeq);
    const seq = prev + 1 >= this.wrap ? this.slots : prev + 1;
    const slot = seq % this.slots;
    const meta = kHeaderFields + slot * kSlotFields;

    // Step 1. On the very first publish into a fresh ring every SEQ is already 0. On a ring taken
    // over from an earlier writer the slot may still be valid: invalidate it here, and accept
    // that this one publish is protected only by the plain ordering of the stores that follow.
    if (Atomics.load(h, meta + kSlotSeq) !== 0) Atomics.store(h, meta + kSlotSeq, 0);
    this.bytes.set(jpeg, this.dataOffset + slot * this.slotBytes);
    Atomics.store(h, meta + kSlotLength, jpeg.byteLength);
    const us = Math.round(captureTime * 1000); // exact below 2^53 µs (year 2255)
    const sec = Math.floor(us / 1_000_000);
    Atomics.store(h, meta + kSlotTimeSec, sec | 0);
    Atomics.store(h, meta + kSlotTimeUsec, us - sec * 1_000_000);
    // Step 2: the slot holds frame `seq` now.
    Atomics.store(h, meta + kSlotSeq, seq);
    // Step 3: invalidate the slot the next publish will overwrite (see the top comment).
    const nextSlot = (slot + 1) % this.slots;
    Atomics.store(h, kHeaderFields + nextSlot * kSlotFields + kSlotSeq, 0);
    // Step 4: make it the newest frame and wake the readers of every thread.
    Atomics.store(h, kLatestSeq, seq);
    Atomics.add(h, kPublished, 1);
    Atomics.notify(h, kLatestSeq);
    return seq;
  }

  // ---- reader side (any thread) ----

  /**
   * Copies the newest frame out of the ring and validates it. `prepare(length, captureTime)`
   * returns where the JPEG goes: a buffer and the offset in it. It may be called more than once
   * if the writer overtakes the reader; only the last destination holds a valid frame.
   * Returns null if nothing was published yet (or the writer kept overtaking for 8 tries).
   */
  read<D extends FrameDestination>(prepare: (jpegLength: number, captureTime: number) => D): RingRead<D> | null {
    const h = this.header;
    for (let attempt = 0; attempt < 8; attempt++) {
      const seq = Atomics.load(h, kLatestSeq);
      if (seq === 0) return null;
      const slot = seq % this.slots;
      const meta = kHeaderFields + slot * kSlotFields;
      if (Atomics.load(h, meta + kSlotSeq) !== seq) continue; // overtaken already
      const length = Atomics.load(h, meta + kSlotLength);
      const captureTime = (Atomics.load(h, meta + kSlotTimeSec) >>> 0) * 1000 + Atomics.load(h, meta + kSlotTimeUsec) / 1000;
      if (length < 0 || length > this.slotBytes) continue;
      const dest = prepare(length, captureTime);
      const start = this.dataOffset + slot * this.slotBytes;
      dest.bytes.set(this.bytes.subarray(start, start + length), dest.jpegOffset);
      // Validation: a read-modify-write, so the copy's loads complete before it (top comment).
      if (Atomics.compareExchange(h, meta + kSlotSeq, seq, seq) !== seq) continue;
      return { seq, captureTime, length, dest };
    }
    return null;
  }

  /** Copies the newest frame's JPEG into a new Buffer. */
  readJpeg(): RingRead<{ bytes: Buffer; jpegOffset: number }> | null {
    return this.read((length) => ({ bytes: Buffer.allocUnsafe(length), jpegOffset: 0 }));
  }

  /**
   * Returns a promise that resolves when LATEST changes from `seenSeq` (or someone calls
   * `wakeReaders`), or null if it differs already. Never blocks the event loop. Note that a pending
   * Atomics.waitAsync does not keep a Node.js event loop alive by itself (nodejs/node#44729): the
   * thread must hold something else (a server socket, a MessagePort) while it waits.
   */
  waitForNewer(seenSeq: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.header, kLatestSeq, seenSeq);
    return r.async ? r.value : null;
  }

  /** Wakes every waiter on LATEST in every thread without publishing (used at shutdown). */
  wakeReaders(): void {
    Atomics.notify(this.header, kLatestSeq);
  }
}
