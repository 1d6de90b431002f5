/**
 * The frame ring: one SharedArrayBuffer per camera, one writer (the capture worker), any number
 * of readers in any threads. Frames are published with an Atomics sequence counter; readers wait
 * on that counter with Atomics.waitAsync and always take the newest frame.
 *
 * Memory layout (all header fields are Int32, index constants below):
 *
 *   byte 0                                                         dataOffset
 *   +---------------- header ----------------+-- slot meta x N --+--pad--+-- slot 0 --+-- slot 1 --+ ...
 *   | MAGIC VERSION SLOTS SLOT_BYTES LATEST  | SEQ LEN TS_S TS_US|  to   | slotBytes  | slotBytes  |
 *   | DEMAND STATE PUBLISHED DROPPED_* ...   | (4 x Int32 each)  |  64   |            |            |
 *   +----------------------------------------+-------------------+-------+------------+------------+
 *
 *   LATEST     sequence number of the newest published frame, 0 before the first one. Readers
 *              Atomics.waitAsync on this field.
 *   DEMAND     how many readers currently want frames (viewers, summed over every thread). The
 *              capture worker waits on it to start and stop the camera.
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

export const RING_MAGIC = 0x464d5247; // "FMRG"
export const RING_LAYOUT_VERSION = 1;

// Header fields (Int32 indices).
export const kMagic = 0;
export const kVersion = 1;
export const kSlotCount = 2;
export const kSlotBytes = 3;
export const kLatestSeq = 4;
export const kDemand = 5;
/** Capture state, a CaptureState code written by the capture worker. */
export const kState = 6;
/** Frames published (wraps at 2^32; read with >>> 0). */
export const kPublished = 7;
/** Frames dropped because they were larger than a slot. */
export const kDroppedOversize = 8;
/** Bumped by anyone who needs every waiter on LATEST to wake and re-check (shutdown). */
export const kWakeGeneration = 9;
/** Frames a driver dropped before publishing because its encoders were busy. */
export const kDroppedEncoderBusy = 10;
/** Frames a driver dropped because the source delivered them broken. */
export const kDroppedCorrupt = 11;
/** Size of the newest frame in pixels, 0 if unknown (written by the capture worker). */
export const kWidth = 12;
export const kHeight = 13;
/** Measured capture rate in thousandths of a frame per second (written by the capture worker). */
export const kFpsMilli = 14;
const kHeaderFields = 16; // room for later fields without a layout change

// Per-slot metadata (Int32 indices relative to the slot's metadata block).
const kSlotSeq = 0;
const kSlotLength = 1; // bytes
const kSlotTimeSec = 2; // capture time, Unix seconds (unsigned)
const kSlotTimeUsec = 3; // capture time, microseconds within the second
const kSlotFields = 4;

const kDataAlign = 64; // slot data starts on a cache line

export const MIN_SLOTS = 2;
export const MAX_SLOTS = 1024;
export const MIN_SLOT_BYTES = 1024;
export const MAX_SLOT_BYTES = 256 * 1024 * 1024;

/** Capture states stored in kState. */
export const CaptureState = {
  idle: 0,
  starting: 1,
  running: 2,
  error: 3,
  stopping: 4,
} as const;
export type CaptureStateName = keyof typeof CaptureState;
const stateNames = Object.keys(CaptureState) as CaptureStateName[];

/** Why a frame never reached viewers. */
export type DropReason = 'oversize' | 'encoder-busy' | 'corrupt';
const dropFields: Record<DropReason, number> = {
  oversize: kDroppedOversize,
  'encoder-busy': kDroppedEncoderBusy,
  corrupt: kDroppedCorrupt,
};

export interface RingGeometry {
  slots: number;
  slotBytes: number;
}

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

function dataOffsetFor(slots: number): number {
  const metaBytes = (kHeaderFields + slots * kSlotFields) * 4;
  return Math.ceil(metaBytes / kDataAlign) * kDataAlign;
}

/** Bytes of SharedArrayBuffer a ring of this geometry needs. */
export function ringByteLength({ slots, slotBytes }: RingGeometry): number {
  return dataOffsetFor(slots) + slots * slotBytes;
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

  /** Allocates and initialises a new ring. */
  static create(geometry: RingGeometry): FrameRing {
    const { slots, slotBytes } = geometry;
    if (!Number.isInteger(slots) || slots < MIN_SLOTS || slots > MAX_SLOTS) {
      throw new RangeError(`ring slots must be an integer from ${MIN_SLOTS} to ${MAX_SLOTS} (got ${slots})`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes < MIN_SLOT_BYTES || slotBytes > MAX_SLOT_BYTES) {
      throw new RangeError(`ring slot size must be an integer from ${MIN_SLOT_BYTES} to ${MAX_SLOT_BYTES} bytes (got ${slotBytes})`);
    }
    const buffer = new SharedArrayBuffer(ringByteLength(geometry));
    const header = new Int32Array(buffer, 0, kHeaderFields);
    header[kSlotCount] = slots;
    header[kSlotBytes] = slotBytes;
    header[kVersion] = RING_LAYOUT_VERSION;
    // Magic last: a reader that sees it sees a fully initialised header.
    Atomics.store(header, kMagic, RING_MAGIC);
    return new FrameRing(buffer);
  }

  /** Attaches to an existing ring, checking its magic number and layout version. */
  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < kHeaderFields * 4) {
      throw new TypeError('frame ring: expected a SharedArrayBuffer holding a ring');
    }
    const head = new Int32Array(buffer, 0, kHeaderFields);
    if (Atomics.load(head, kMagic) !== RING_MAGIC) throw new TypeError('frame ring: bad magic number');
    if (head[kVersion] !== RING_LAYOUT_VERSION) {
      throw new TypeError(`frame ring: layout version ${head[kVersion]}, expected ${RING_LAYOUT_VERSION}`);
    }
    const slots = head[kSlotCount]!;
    const slotBytes = head[kSlotBytes]!;
    if (slots < MIN_SLOTS || slots > MAX_SLOTS || slotBytes < MIN_SLOT_BYTES || slotBytes > MAX_SLOT_BYTES) {
      throw new TypeError(`frame ring: corrupt header (${slots} slots of ${slotBytes} bytes)`);
    }
    this.buffer = buffer;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.dataOffset = dataOffsetFor(this.slots);
    if (buffer.byteLength !== ringByteLength(this)) throw new TypeError('frame ring: buffer size does not match its header');
    this.header = new Int32Array(buffer, 0, kHeaderFields + this.slots * kSlotFields);
    this.bytes = new Uint8Array(buffer);
    this.wrap = wrapFor(this.slots);
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
   * `wakeAll`), or null if it differs already. Never blocks the event loop. Note that a pending
   * Atomics.waitAsync does not keep a Node.js event loop alive by itself (nodejs/node#44729): the
   * thread must hold something else (a server socket, a MessagePort) while it waits.
   */
  waitForNewer(seenSeq: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.header, kLatestSeq, seenSeq);
    return r.async ? r.value : null;
  }

  /** Wakes every waiter on LATEST in every thread without publishing (used at shutdown). */
  wakeAll(): void {
    Atomics.add(this.header, kWakeGeneration, 1);
    Atomics.notify(this.header, kLatestSeq);
  }

  // ---- demand and state (shared between front ends and the capture worker) ----

  /** Adds (or with a negative delta removes) viewers and wakes the capture worker. */
  addDemand(delta: number): number {
    const now = Atomics.add(this.header, kDemand, delta) + delta;
    Atomics.notify(this.header, kDemand);
    return now;
  }

  demand(): number {
    return Atomics.load(this.header, kDemand);
  }

  /** Waits until DEMAND differs from `seen`, or `timeoutMs` passes. */
  waitForDemandChange(seen: number, timeoutMs: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.header, kDemand, seen, timeoutMs);
    return r.async ? r.value : null;
  }

  setState(state: CaptureStateName): void {
    Atomics.store(this.header, kState, CaptureState[state]);
  }

  state(): CaptureStateName {
    return stateNames[Atomics.load(this.header, kState)] ?? 'error';
  }

  published(): number {
    return Atomics.load(this.header, kPublished) >>> 0;
  }

  droppedOversize(): number {
    return Atomics.load(this.header, kDroppedOversize) >>> 0;
  }

  /** Records the measured capture rate and the frame size (capture worker). */
  setSourceInfo(fps: number, width: number, height: number): void {
    Atomics.store(this.header, kFpsMilli, Math.round(fps * 1000));
    Atomics.store(this.header, kWidth, width);
    Atomics.store(this.header, kHeight, height);
  }

  /** Measured capture rate (fps) and frame size (0 when unknown). */
  sourceInfo(): { fps: number; width: number; height: number } {
    return {
      fps: Atomics.load(this.header, kFpsMilli) / 1000,
      width: Atomics.load(this.header, kWidth),
      height: Atomics.load(this.header, kHeight),
    };
  }

  /** Counts frames a driver dropped before they reached the ring. */
  countDrop(reason: DropReason, frames = 1): void {
    Atomics.add(this.header, dropFields[reason], frames);
  }

  /** Frames dropped for `reason` so far. */
  dropped(reason: DropReason): number {
    return Atomics.load(this.header, dropFields[reason]) >>> 0;
  }
}
