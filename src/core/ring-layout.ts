/**
 * The memory layout of a camera's SharedArrayBuffer, shared by the three views over it:
 * FrameRing (the frame slots), CaptureControl (viewer demand and capture state) and RingStats
 * (counters the capture worker keeps for /status and /metrics). One buffer, so that one
 * structured-clone-safe object gives a thread everything about a camera.
 *
 *   byte 0                                                         dataOffset
 *   +---------------- header ----------------+-- slot meta x N --+--pad--+-- slot 0 --+-- slot 1 --+ ...
 *   | MAGIC VERSION SLOTS SLOT_BYTES LATEST  | SEQ LEN TS_S TS_US|  to   | slotBytes  | slotBytes  |
 *   | DEMAND STATE PUBLISHED DROPPED_* ...   | (4 x Int32 each)  |  64   |            |            |
 *   +----------------------------------------+-------------------+-------+------------+------------+
 *
 * All header fields are Int32 (index constants below). The publish/read protocol of the slots is
 * described in ring.ts.
 */

export const RING_MAGIC = 0x464d5247; // "FMRG"
export const RING_LAYOUT_VERSION = 1;

// ---- header fields (Int32 indices) ----
export const kMagic = 0;
export const kVersion = 1;
export const kSlotCount = 2;
export const kSlotBytes = 3;
/** Sequence number of the newest published frame, 0 before the first (FrameRing). */
export const kLatestSeq = 4;
/** Viewers that want frames, summed over every HTTP thread (CaptureControl). */
export const kDemand = 5;
/** Capture state, a CaptureState code written by the capture worker (CaptureControl). */
export const kState = 6;
/** Frames published (wraps at 2^32; read with >>> 0) (RingStats, written by FrameRing.publish). */
export const kPublished = 7;
/** Frames dropped because they were larger than a slot (RingStats, written by FrameRing.publish). */
export const kDroppedOversize = 8;
// Index 9 held a wake-up generation counter that nothing read; it stays unused so the layout
// version need not change.
/** Frames a driver dropped before publishing because its encoders were busy (RingStats). */
export const kDroppedEncoderBusy = 10;
/** Frames a driver dropped because the source delivered them broken (RingStats). */
export const kDroppedCorrupt = 11;
/** Size of the newest frame in pixels, 0 if unknown (RingStats). */
export const kWidth = 12;
export const kHeight = 13;
/** Measured capture rate in thousandths of a frame per second (RingStats). */
export const kFpsMilli = 14;
export const kHeaderFields = 16; // room for later fields without a layout change

// ---- per-slot metadata (Int32 indices relative to the slot's metadata block) ----
export const kSlotSeq = 0;
export const kSlotLength = 1; // bytes
export const kSlotTimeSec = 2; // capture time, Unix seconds (unsigned)
export const kSlotTimeUsec = 3; // capture time, microseconds within the second
export const kSlotFields = 4;

const kDataAlign = 64; // slot data starts on a cache line

export const MIN_SLOTS = 2;
export const MAX_SLOTS = 1024;
export const MIN_SLOT_BYTES = 1024;
export const MAX_SLOT_BYTES = 256 * 1024 * 1024;

export interface RingGeometry {
  slots: number;
  slotBytes: number;
}

/** Byte offset of slot 0's data. */
export function dataOffsetFor(slots: number): number {
  const metaBytes = (kHeaderFields + slots * kSlotFields) * 4;
  return Math.ceil(metaBytes / kDataAlign) * kDataAlign;
}

/** Bytes of SharedArrayBuffer a ring of this geometry needs. */
export function ringByteLength({ slots, slotBytes }: RingGeometry): number {
  return dataOffsetFor(slots) + slots * slotBytes;
}

/** Allocates and initialises a camera's shared buffer. */
export function createRingBuffer(geometry: RingGeometry): SharedArrayBuffer {
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
  return buffer;
}

/** A checked view of a ring buffer's header and slot metadata. */
export interface RingHeader extends RingGeometry {
  /** Header fields followed by every slot's metadata. */
  header: Int32Array;
}

/** Checks a buffer's magic number, layout version and size; throws TypeError if it is no ring. */
export function attachRing(buffer: SharedArrayBuffer): RingHeader {
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
  if (buffer.byteLength !== ringByteLength({ slots, slotBytes })) throw new TypeError('frame ring: buffer size does not match its header');
  return { header: new Int32Array(buffer, 0, kHeaderFields + slots * kSlotFields), slots, slotBytes };
}
