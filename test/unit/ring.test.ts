/**
 * The frame ring in one thread: geometry validation, attaching, the memory layout (it is a
 * contract between threads, so it is pinned here field by field), the publish/read protocol and
 * its seqlock validation, sequence wrap, and the demand/state fields. Cross-thread races are in
 * ring-stress.test.ts.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CaptureControl, CaptureState, type CaptureStateName } from '../../src/core/capture-control.js';
import { FrameRing, type FrameDestination } from '../../src/core/ring.js';
import {
  MAX_SLOT_BYTES,
  MAX_SLOTS,
  MIN_SLOT_BYTES,
  MIN_SLOTS,
  RING_LAYOUT_VERSION,
  RING_MAGIC,
  kDemand,
  kDroppedOversize,
  kLatestSeq,
  kMagic,
  kPublished,
  kSlotBytes,
  kSlotCount,
  kState,
  kVersion,
  ringByteLength,
} from '../../src/core/ring-layout.js';
import { RingStats } from '../../src/core/ring-stats.js';

const control = (ring: FrameRing): CaptureControl => new CaptureControl(ring.buffer);
const stats = (ring: FrameRing): RingStats => new RingStats(ring.buffer);

// The layout's private constants, as documented in src/core/ring-layout.ts. A change to any of
// them is a layout change (RING_LAYOUT_VERSION), so the test pins them rather than importing.
const kHeaderFields = 16;
const kSlotFields = 4; // SEQ LEN TS_S TS_US
const kSlotSeq = 0;
const kSlotLength = 1;
const kSlotTimeSec = 2;
const kSlotTimeUsec = 3;

const T0 = 1_700_000_000_123.456; // ms, a capture time with a microsecond fraction

/** A frame whose bytes depend on `seq` at every position, so two frames never look alike. */
function frame(seq: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  for (let i = 0; i < length; i++) f[i] = (seq * 31 + i * 7 + (i >> 8)) & 0xff;
  return f;
}

function slotSeq(ring: FrameRing, slot: number): number {
  return Atomics.load(ring.header, kHeaderFields + slot * kSlotFields + kSlotSeq);
}

function dataOffset(ring: FrameRing): number {
  return ringByteLength(ring) - ring.slots * ring.slotBytes;
}

/** The bytes a slot holds (its first `length`), straight from the buffer. */
function slotBytes(ring: FrameRing, slot: number, length: number): Uint8Array {
  return new Uint8Array(ring.buffer, dataOffset(ring) + slot * ring.slotBytes, length);
}

/** The largest sequence number + 1, per the top comment of src/ring.ts. */
function wrapFor(slots: number): number {
  return Math.floor(0x7fffffff / slots) * slots;
}

/** Asserts two capture times (ms) agree to the microsecond. */
function assertSameMicrosecond(actual: number, expected: number, message?: string): void {
  assert.ok(Math.abs(actual - expected) < 0.0005, message ?? `capture time ${actual}, expected ${expected}`);
}

/**
 * Awaits `p` with a ref'd timer running. A pending Atomics.waitAsync does not keep Node's event
 * loop alive (nodejs/node#44729, #61941): a wait that only a timeout will end would otherwise let
 * this file's process exit with the test still pending. Waits ended by this thread's own
 * notify need no help: the notify comes first.
 */
async function keepingAlive<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

// ---- create(): geometry validation ----

test('create() rejects a slot count outside 2..1024 or not an integer, naming slots', () => {
  for (const slots of [MIN_SLOTS - 1, 0, -4, MAX_SLOTS + 1, 2.5, Number.NaN, Infinity]) {
    assert.throws(
      () => FrameRing.create({ slots, slotBytes: 4096 }),
      (e: unknown) => e instanceof RangeError && /\bslots\b/.test(e.message) && e.message.includes(`got ${slots}`),
      `slots = ${slots}`,
    );
  }
});

test('create() rejects a slot size outside 1 KiB..256 MiB or not an integer, naming the slot size', () => {
  for (const slotBytes of [MIN_SLOT_BYTES - 1, 0, -1, MAX_SLOT_BYTES + 1, 4096.5, Number.NaN]) {
    assert.throws(
      () => FrameRing.create({ slots: 4, slotBytes }),
      (e: unknown) => e instanceof RangeError && /slot size/.test(e.message) && e.message.includes(`got ${slotBytes}`),
      `slotBytes = ${slotBytes}`,
    );
  }
});

test('create() accepts the boundaries of both ranges', () => {
  const min = FrameRing.create({ slots: MIN_SLOTS, slotBytes: MIN_SLOT_BYTES });
  assert.equal(min.slots, 2);
  assert.equal(min.slotBytes, 1024);
  const many = FrameRing.create({ slots: MAX_SLOTS, slotBytes: MIN_SLOT_BYTES });
  assert.equal(many.slots, 1024);
  assert.equal(many.buffer.byteLength, ringByteLength({ slots: 1024, slotBytes: 1024 }));
});

// ---- attaching ----

test('a second view over the same buffer shares every frame and field', () => {
  const writer = FrameRing.create({ slots: 4, slotBytes: 2048 });
  const reader = new FrameRing(writer.buffer);
  assert.equal(reader.slots, 4);
  assert.equal(reader.slotBytes, 2048);
  writer.publish(frame(1, 100), T0);
  control(writer).addDemand(2);
  control(writer).setState('running');
  const got = reader.readJpeg();
  assert.ok(got);
  assert.equal(got.seq, 1);
  assert.deepEqual(new Uint8Array(got.dest.bytes), frame(1, 100));
  assert.equal(control(reader).demand(), 2);
  assert.equal(control(reader).state(), 'running');
});

test('attaching checks the buffer type, its magic number, layout version and size', () => {
  const good = FrameRing.create({ slots: 3, slotBytes: 1024 }).buffer;
  const copy = (length = good.byteLength): SharedArrayBuffer => {
    const b = new SharedArrayBuffer(length);
    new Uint8Array(b).set(new Uint8Array(good).subarray(0, Math.min(length, good.byteLength)));
    return b;
  };

  assert.throws(() => new FrameRing(new ArrayBuffer(good.byteLength) as unknown as SharedArrayBuffer), TypeError);
  assert.throws(() => new FrameRing(new SharedArrayBuffer(32)), /expected a SharedArrayBuffer holding a ring/);
  assert.throws(() => new FrameRing(new SharedArrayBuffer(good.byteLength)), /bad magic number/);

  const badMagic = copy();
  new Int32Array(badMagic)[kMagic] = RING_MAGIC + 1;
  assert.throws(() => new FrameRing(badMagic), /bad magic number/);

  const badVersion = copy();
  new Int32Array(badVersion)[kVersion] = RING_LAYOUT_VERSION + 1;
  assert.throws(
    () => new FrameRing(badVersion),
    (e: unknown) => e instanceof TypeError && /layout version 2, expected 1/.test(e.message),
  );

  assert.throws(() => new FrameRing(copy(good.byteLength + 64)), /size does not match/);
  assert.throws(() => new FrameRing(copy(good.byteLength - 1024)), /size does not match/);
  const lyingHeader = copy();
  new Int32Array(lyingHeader)[kSlotCount] = 4; // claims a slot more than the buffer holds
  assert.throws(() => new FrameRing(lyingHeader), /size does not match/);

  assert.doesNotThrow(() => new FrameRing(copy()));
});

// ---- layout ----

test('a new ring has its header initialised and everything else zero', () => {
  const ring = FrameRing.create({ slots: 4, slotBytes: 1024 });
  const h = ring.header;
  assert.equal(h[kMagic], RING_MAGIC);
  assert.equal(RING_MAGIC, 0x464d5247);
  assert.equal(Buffer.from(new Uint8Array(ring.buffer, 0, 4)).toString('latin1'), 'GRMF'); // "FMRG", little-endian
  assert.equal(h[kVersion], RING_LAYOUT_VERSION);
  assert.equal(h[kSlotCount], 4);
  assert.equal(h[kSlotBytes], 1024);
  for (const field of [kLatestSeq, kDemand, kState, kPublished, kDroppedOversize]) assert.equal(h[field], 0);
  // The header view covers the header and every slot's metadata, nothing more.
  assert.equal(h.length, kHeaderFields + 4 * kSlotFields);
  for (let i = kHeaderFields; i < h.length; i++) assert.equal(h[i], 0, `slot metadata word ${i}`);
  assert.ok(new Uint8Array(ring.buffer, dataOffset(ring)).every((b) => b === 0));
  assert.equal(ring.latestSeq(), 0);
  assert.equal(stats(ring).published(), 0);
  assert.equal(stats(ring).dropped('oversize'), 0);
  assert.equal(control(ring).demand(), 0);
  assert.equal(control(ring).state(), 'idle');
});

test('ringByteLength: header and slot metadata rounded up to 64 bytes, then the slots', () => {
  // (16 + 4 * slots) Int32 fields of metadata before the data.
  assert.equal(ringByteLength({ slots: 2, slotBytes: 1024 }), 128 + 2 * 1024); // 96 bytes of metadata
  assert.equal(ringByteLength({ slots: 4, slotBytes: 1024 }), 128 + 4 * 1024); // exactly 128
  assert.equal(ringByteLength({ slots: 5, slotBytes: 1000 }), 192 + 5 * 1000); // 144
  assert.equal(ringByteLength({ slots: 12, slotBytes: 4096 }), 256 + 12 * 4096); // exactly 256
  assert.equal(ringByteLength({ slots: 13, slotBytes: 4096 }), 320 + 13 * 4096); // 272
  for (const slots of [2, 3, 4, 5, 7, 12, 13, 100, 1024]) {
    const ring = FrameRing.create({ slots, slotBytes: 1024 });
    assert.equal(ring.buffer.byteLength, ringByteLength({ slots, slotBytes: 1024 }));
    const offset = dataOffset(ring);
    assert.equal(offset % 64, 0, `slot data of a ${slots}-slot ring starts on a cache line`);
    assert.ok(offset >= (kHeaderFields + slots * kSlotFields) * 4, 'slot data starts after the metadata');
    assert.ok(offset - (kHeaderFields + slots * kSlotFields) * 4 < 64, 'and no further than the padding');
  }
});

test('frame s goes into slot s % N: its bytes at dataOffset + slot * slotBytes, its metadata in that slot', () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  const times = [T0, T0 + 33.25, T0 + 66.5, T0 + 100, T0 + 133.001];
  for (let s = 1; s <= 5; s++) {
    const f = frame(s, 100 + s);
    assert.equal(ring.publish(f, times[s - 1]!), s);
    const slot = s % 3;
    assert.deepEqual(slotBytes(ring, slot, f.length), f);
    const meta = kHeaderFields + slot * kSlotFields;
    assert.equal(ring.header[meta + kSlotSeq], s);
    assert.equal(ring.header[meta + kSlotLength], f.length);
    const t = times[s - 1]!;
    assert.equal(ring.header[meta + kSlotTimeSec], Math.floor(t / 1000));
    assert.equal(ring.header[meta + kSlotTimeUsec], Math.round((t % 1000) * 1000));
  }
});

// ---- publish and read ----

test('read() before the first publish returns null without calling prepare', () => {
  const ring = FrameRing.create({ slots: 4, slotBytes: 1024 });
  let calls = 0;
  assert.equal(
    ring.read((length) => {
      calls++;
      return { bytes: new Uint8Array(length), jpegOffset: 0 };
    }),
    null,
  );
  assert.equal(calls, 0);
  assert.equal(ring.readJpeg(), null);
});

test('publish then read: same bytes, length, capture time to the microsecond; seq counts 1, 2, 3 in LATEST', () => {
  const ring = FrameRing.create({ slots: 4, slotBytes: 4096 });
  for (let s = 1; s <= 3; s++) {
    const f = frame(s, 1000 * s + 17);
    const t = T0 + s * 40.001;
    assert.equal(ring.publish(f, t), s);
    assert.equal(ring.latestSeq(), s);
    assert.equal(ring.header[kLatestSeq], s);
    assert.equal(stats(ring).published(), s);

    const seen: Array<[number, number]> = [];
    const got = ring.read((length, captureTime) => {
      seen.push([length, captureTime]);
      return { bytes: new Uint8Array(length + 20).fill(0xee), jpegOffset: 20 };
    });
    assert.ok(got);
    assert.equal(got.seq, s);
    assert.equal(got.length, f.length);
    assertSameMicrosecond(got.captureTime, t);
    assert.equal(seen.length, 1, 'prepare called once when nothing overtakes the read');
    assert.equal(seen[0]![0], f.length);
    assert.equal(seen[0]![1], got.captureTime);
    assert.deepEqual(got.dest.bytes.subarray(20), f, 'the JPEG lands at jpegOffset');
    assert.ok(
      got.dest.bytes.subarray(0, 20).every((b) => b === 0xee),
      'bytes before jpegOffset untouched',
    );

    const again = ring.readJpeg();
    assert.ok(again);
    assert.ok(Buffer.isBuffer(again.dest.bytes));
    assert.equal(again.dest.jpegOffset, 0);
    assert.deepEqual(new Uint8Array(again.dest.bytes), f);
  }
});

test('capture times survive to the microsecond, including past 2038 and the last microsecond of a second', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  const cases = [
    0,
    1.5,
    T0,
    1_700_000_000_000, // whole milliseconds
    1_700_000_000_999.999, // last microsecond of a second
    1_700_000_000_999.25,
    2_200_000_000_000.75, // 2039: seconds no longer fit in an Int32 (stored unsigned)
    4_000_000_000_999.999, // 2096
  ];
  for (const t of cases) {
    ring.publish(frame(1, 10), t);
    const got = ring.readJpeg();
    assert.ok(got);
    assertSameMicrosecond(got.captureTime, t);
  }
});

// Regression: publish() used to round the sub-millisecond part on its own and clamp it to
// 999_999 µs, so a time in the last half microsecond of a second came back rounded down instead
// of carrying into the next second.
test('a capture time in the last half microsecond of a second rounds up into the next second', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  // biome-ignore lint/correctness/noPrecisionLoss: the double nearest this literal (…999.99963) is the point: a time in the last half microsecond of a second
  const t = 1_700_000_000_999.9996; // nearest microsecond: 1_700_000_001_000.000
  ring.publish(frame(1, 10), t);
  const got = ring.readJpeg();
  assert.ok(got);
  assertSameMicrosecond(got.captureTime, t);
});

test('a zero-length frame and a frame of exactly slotBytes are published whole', () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  assert.equal(ring.publish(new Uint8Array(0), T0), 1);
  const empty = ring.readJpeg();
  assert.ok(empty);
  assert.equal(empty.length, 0);
  const full = frame(2, 1024);
  assert.equal(ring.publish(full, T0), 2);
  const got = ring.readJpeg();
  assert.ok(got);
  assert.equal(got.length, 1024);
  assert.deepEqual(new Uint8Array(got.dest.bytes), full);
});

test('read() hands out only the newest frame', () => {
  const ring = FrameRing.create({ slots: 4, slotBytes: 1024 });
  for (let s = 1; s <= 3; s++) ring.publish(frame(s, 50 + s), T0 + s);
  let got = ring.readJpeg();
  assert.ok(got);
  assert.equal(got.seq, 3);
  assert.deepEqual(new Uint8Array(got.dest.bytes), frame(3, 53));
  // Many laps around the ring later, still the newest.
  for (let s = 4; s <= 27; s++) ring.publish(frame(s, 50 + s), T0 + s);
  got = ring.readJpeg();
  assert.ok(got);
  assert.equal(got.seq, 27);
  assert.deepEqual(new Uint8Array(got.dest.bytes), frame(27, 77));
  assertSameMicrosecond(got.captureTime, T0 + 27);
});

test('an oversize frame is dropped and counted, never truncated, and leaves the previous frame readable', () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  const prev = frame(1, 700);
  ring.publish(prev, T0);
  const headerBefore = Int32Array.from(ring.header);
  const dataBefore = new Uint8Array(ring.buffer).slice(dataOffset(ring));

  assert.equal(ring.publish(frame(2, 1025), T0 + 40), 0);
  assert.equal(ring.publish(frame(2, 5000), T0 + 80), 0);
  assert.equal(stats(ring).dropped('oversize'), 2);
  assert.equal(stats(ring).published(), 1);
  assert.equal(ring.latestSeq(), 1);
  // Nothing but the drop counter changed: no slot was written or invalidated.
  const headerAfter = Int32Array.from(ring.header);
  headerAfter[kDroppedOversize] = headerBefore[kDroppedOversize]!;
  assert.deepEqual(headerAfter, headerBefore);
  assert.deepEqual(new Uint8Array(ring.buffer).slice(dataOffset(ring)), dataBefore);

  const got = ring.readJpeg();
  assert.ok(got);
  assert.equal(got.seq, 1);
  assert.deepEqual(new Uint8Array(got.dest.bytes), prev);
  assertSameMicrosecond(got.captureTime, T0);

  // The next frame that fits takes the next sequence number, as if the drops never happened.
  assert.equal(ring.publish(frame(2, 1024), T0 + 120), 2);
  assert.equal(ring.readJpeg()?.seq, 2);
});

// ---- sequence wrap ----

for (const slots of [2, 3, 4, 7, 1024]) {
  test(`sequence numbers wrap below 2^31 at a multiple of ${slots} back to ${slots}, keeping slots round-robin`, () => {
    const ring = FrameRing.create({ slots, slotBytes: 1024 });
    const wrap = wrapFor(slots);
    assert.equal(wrap % slots, 0);
    Atomics.store(ring.header, kLatestSeq, wrap - 3); // as if ~2^31 frames had been published

    const expected = [wrap - 2, wrap - 1, slots, slots + 1, slots + 2, slots + 3];
    let previousSlot = (wrap - 3) % slots;
    for (const [i, want] of expected.entries()) {
      const f = frame(i + 1, 64 + i);
      const seq = ring.publish(f, T0 + i);
      assert.equal(seq, want, `publish #${i + 1}`);
      assert.ok(seq > 0 && seq < 2 ** 31 - 1);
      const slot = seq % slots;
      assert.equal(slot, (previousSlot + 1) % slots, 'the slot after the previous one, across the wrap too');
      previousSlot = slot;
      assert.equal(slotSeq(ring, slot), seq);
      assert.deepEqual(slotBytes(ring, slot, f.length), f);
      assert.equal(slotSeq(ring, (slot + 1) % slots), 0, 'the next slot is invalidated');

      const got = ring.readJpeg();
      assert.ok(got, `frame ${seq} is readable`);
      assert.equal(got.seq, seq);
      assert.deepEqual(new Uint8Array(got.dest.bytes), f);
      assertSameMicrosecond(got.captureTime, T0 + i);
    }
  });
}

test('a waiter on the last sequence number before the wrap is woken by the first one after it', async () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  Atomics.store(ring.header, kLatestSeq, wrapFor(3) - 2);
  const last = ring.publish(frame(1, 10), T0);
  assert.equal(last, wrapFor(3) - 1);
  const wait = ring.waitForNewer(last);
  assert.ok(wait);
  await nextTurn();
  assert.equal(ring.publish(frame(2, 10), T0), 3);
  assert.equal(await wait, 'ok');
  assert.equal(ring.waitForNewer(last), null, 'LATEST differs from the pre-wrap seq');
});

// ---- slot invalidation and the seqlock validation ----

for (const slots of [2, 3, 4, 5]) {
  test(`after frame s, slot (s+1) % ${slots} is invalid and the ${slots - 1} newest frames are intact`, () => {
    const ring = FrameRing.create({ slots, slotBytes: 1024 });
    for (let s = 1; s <= 3 * slots + 1; s++) {
      ring.publish(frame(s, 10 + s), T0 + s);
      assert.equal(slotSeq(ring, (s + 1) % slots), 0, `SEQ of slot ${(s + 1) % slots} after frame ${s}`);
      // Every other slot holds one of the N - 1 newest frames (or nothing yet).
      for (let back = 0; back < slots - 1; back++) {
        const older = s - back;
        if (older < 1) continue;
        assert.equal(slotSeq(ring, older % slots), older, `slot ${older % slots} holds frame ${older} after frame ${s}`);
        assert.deepEqual(slotBytes(ring, older % slots, 10 + older), frame(older, 10 + older));
      }
    }
  });
}

/**
 * Reads while `during` runs inside the first prepare() call, that is between the reader's check
 * of the slot's SEQ and its copy: the writer "overtakes" the reader in a controlled way.
 */
function readWhile(ring: FrameRing, during: (call: number) => void) {
  const dests: FrameDestination[] = [];
  const got = ring.read((length) => {
    const dest = { bytes: new Uint8Array(length), jpegOffset: 0 };
    dests.push(dest);
    during(dests.length);
    return dest;
  });
  return { got, dests };
}

test('a read overtaken by N publishes discards its torn copy and returns the newest frame', () => {
  const N = 4;
  const ring = FrameRing.create({ slots: N, slotBytes: 1024 });
  for (let s = 1; s <= 5; s++) ring.publish(frame(s, 300 + s), T0 + s);
  // Frame 5 is in slot 1; four more publishes put frame 9, with a different length, in that slot.
  const { got, dests } = readWhile(ring, (call) => {
    if (call === 1) for (let s = 6; s <= 9; s++) ring.publish(frame(s, 600 + s), T0 + s);
  });
  assert.equal(dests.length, 2, 'the first copy failed validation and the read retried');
  // The first copy really is torn: frame 5's length, frame 9's bytes. It must not be handed on.
  assert.notDeepEqual(dests[0]!.bytes, frame(5, 305));
  assert.deepEqual(dests[0]!.bytes, frame(9, 609).subarray(0, 305));
  assert.ok(got);
  assert.equal(got.dest, dests[1]);
  assert.equal(got.seq, 9);
  assert.equal(got.length, 609);
  assertSameMicrosecond(got.captureTime, T0 + 9);
  assert.deepEqual(got.dest.bytes, frame(9, 609));
});

test('a read is invalidated once the writer is N - 1 publishes ahead, before its slot is even rewritten', () => {
  const N = 4;
  const ring = FrameRing.create({ slots: N, slotBytes: 1024 });
  ring.publish(frame(1, 100), T0);
  // Frame 4 (the third publish during the copy) invalidates slot 1 for frame 5.
  const { got, dests } = readWhile(ring, (call) => {
    if (call === 1) for (let s = 2; s <= 4; s++) ring.publish(frame(s, 100 + s), T0 + s);
  });
  assert.equal(dests.length, 2);
  assert.ok(got);
  assert.equal(got.seq, 4);
  assert.deepEqual(got.dest.bytes, frame(4, 104));
});

test('a read survives N - 2 publishes during its copy: the reader has N - 2 publish intervals', () => {
  const N = 4;
  const ring = FrameRing.create({ slots: N, slotBytes: 1024 });
  ring.publish(frame(1, 100), T0);
  const { got, dests } = readWhile(ring, (call) => {
    if (call === 1) for (let s = 2; s <= 3; s++) ring.publish(frame(s, 100 + s), T0 + s);
  });
  assert.equal(dests.length, 1, 'not overtaken');
  assert.ok(got);
  assert.equal(got.seq, 1);
  assert.deepEqual(got.dest.bytes, frame(1, 100));
});

test('with 2 slots a single publish during the copy overtakes the read', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  ring.publish(frame(1, 100), T0);
  const { got, dests } = readWhile(ring, (call) => {
    if (call === 1) ring.publish(frame(2, 200), T0 + 2);
  });
  assert.equal(dests.length, 2);
  assert.ok(got);
  assert.equal(got.seq, 2);
  assert.deepEqual(got.dest.bytes, frame(2, 200));
});

test('a read overtaken on every attempt gives up with null after 8 tries instead of returning a torn copy', () => {
  const N = 3;
  const ring = FrameRing.create({ slots: N, slotBytes: 1024 });
  let s = 1;
  ring.publish(frame(s, 100), T0);
  const { got, dests } = readWhile(ring, () => {
    for (let k = 0; k < N; k++) {
      s++;
      ring.publish(frame(s, 100 + s), T0 + s);
    }
  });
  assert.equal(got, null);
  assert.equal(dests.length, 8);
  // Once the writer lets go, the next read succeeds.
  const after = ring.readJpeg();
  assert.ok(after);
  assert.equal(after.seq, s);
  assert.deepEqual(new Uint8Array(after.dest.bytes), frame(s, 100 + s));
});

test('a writer taking over a ring whose next slot is still valid overwrites it cleanly', () => {
  // As if the previous writer died between steps 2 and 3 of publishing frame 3: slot 1 still
  // claims to hold frame 1. The next publish must not leave that claim standing.
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  for (let s = 1; s <= 3; s++) ring.publish(frame(s, 100 + s), T0 + s);
  Atomics.store(ring.header, kHeaderFields + 1 * kSlotFields + kSlotSeq, 1);
  const takeover = new FrameRing(ring.buffer);
  assert.equal(takeover.publish(frame(4, 40), T0 + 4), 4);
  assert.equal(slotSeq(ring, 1), 4);
  assert.equal(slotSeq(ring, 2), 0);
  assert.deepEqual(slotBytes(ring, 1, 40), frame(4, 40));
  const got = ring.readJpeg();
  assert.ok(got);
  assert.equal(got.seq, 4);
  assert.equal(got.length, 40);
  assert.deepEqual(new Uint8Array(got.dest.bytes), frame(4, 40));
});

// ---- waiting ----

test('waitForNewer() resolves when a frame is published, and returns null if LATEST already differs', async () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  const wait = ring.waitForNewer(0);
  assert.ok(wait, 'nothing newer yet: a promise');
  let settled = false;
  void wait.then(() => (settled = true));
  await nextTurn();
  await nextTurn();
  assert.equal(settled, false, 'still waiting while nothing is published');
  ring.publish(frame(1, 10), T0);
  assert.equal(await wait, 'ok');
  assert.equal(ring.waitForNewer(0), null, 'LATEST is 1 now');
  const next = ring.waitForNewer(1);
  assert.ok(next);
  ring.publish(frame(2, 10), T0);
  assert.equal(await next, 'ok');
});

test('an oversize frame does not wake waiters', async () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  ring.publish(frame(1, 10), T0);
  const wait = ring.waitForNewer(1);
  assert.ok(wait);
  let settled = false;
  void wait.then(() => (settled = true));
  ring.publish(frame(2, 2000), T0);
  await nextTurn();
  await nextTurn();
  assert.equal(settled, false);
  ring.wakeReaders(); // end the wait
  assert.equal(await wait, 'ok');
});

test('wakeReaders() wakes every waiter without publishing', async () => {
  const ring = FrameRing.create({ slots: 3, slotBytes: 1024 });
  ring.publish(frame(1, 10), T0);
  const waits = [ring.waitForNewer(1), ring.waitForNewer(1), new FrameRing(ring.buffer).waitForNewer(1)];
  await nextTurn();
  ring.wakeReaders();
  assert.deepEqual(await Promise.all(waits), ['ok', 'ok', 'ok']);
  assert.equal(ring.latestSeq(), 1, 'nothing published');
  assert.equal(stats(ring).published(), 1);
});

// ---- capture control: demand and state ----

test('addDemand() adds and removes viewers and returns the new total; demand() reads it', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  const one = control(ring);
  const other = new CaptureControl(ring.buffer);
  assert.equal(one.addDemand(1), 1);
  assert.equal(other.addDemand(2), 3);
  assert.equal(one.demand(), 3);
  assert.equal(ring.header[kDemand], 3);
  assert.equal(other.addDemand(-3), 0);
  assert.equal(one.demand(), 0);
});

test('waitForDemandChange() resolves on addDemand() and wake(), null if already different, times out otherwise', async () => {
  const c = control(FrameRing.create({ slots: 2, slotBytes: 1024 }));
  const wait = c.waitForDemandChange(0, 10_000);
  assert.ok(wait);
  await nextTurn();
  c.addDemand(1);
  assert.equal(await wait, 'ok');
  assert.equal(c.waitForDemandChange(0, 10_000), null, 'demand is 1 already');

  // wake() is how the capture worker's own waits are ended without changing demand.
  const poke = c.waitForDemandChange(1, 10_000);
  assert.ok(poke);
  c.wake();
  assert.equal(await poke, 'ok');
  assert.equal(c.demand(), 1, 'wake() leaves demand as it was');

  const idle = c.waitForDemandChange(1, 20);
  assert.ok(idle);
  assert.equal(await keepingAlive(idle), 'timed-out');
});

test('setState()/state() round-trip every capture state through the header', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  const c = control(ring);
  const other = new CaptureControl(ring.buffer);
  assert.equal(c.state(), 'idle');
  for (const name of Object.keys(CaptureState) as CaptureStateName[]) {
    c.setState(name);
    assert.equal(other.state(), name);
    assert.equal(ring.header[kState], CaptureState[name]);
  }
  assert.deepEqual(CaptureState, { idle: 0, starting: 1, running: 2, error: 3, stopping: 4 });
  Atomics.store(ring.header, kState, 99);
  assert.equal(c.state(), 'error', 'an unknown code reads as error');
  Atomics.store(ring.header, kState, -1);
  assert.equal(c.state(), 'error');
});

test('published() and droppedOversize() read as unsigned past 2^31', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  Atomics.store(ring.header, kPublished, -1); // 2^32 - 1 frames
  Atomics.store(ring.header, kDroppedOversize, -2);
  assert.equal(stats(ring).published(), 2 ** 32 - 1);
  assert.equal(stats(ring).dropped('oversize'), 2 ** 32 - 2);
  ring.publish(frame(1, 10), T0);
  assert.equal(stats(ring).published(), 0, 'wraps at 2^32');
  ring.publish(frame(2, 2000), T0);
  assert.equal(stats(ring).dropped('oversize'), 2 ** 32 - 1);
});

// Regression: attaching only checked the buffer size against the header, so a 64-byte buffer
// whose header claimed 0 slots was accepted, and publish() then overwrote the magic number.
test('attaching to a buffer whose header claims an impossible geometry is refused', () => {
  const buffer = new SharedArrayBuffer(4096);
  const header = new Int32Array(buffer, 0, 16);
  header[kVersion] = RING_LAYOUT_VERSION;
  Atomics.store(header, kMagic, RING_MAGIC);
  for (const [slots, bytes] of [
    [0, 0],
    [1, 4096],
    [4, 10],
    [2000, 4096],
  ] as const) {
    header[kSlotCount] = slots;
    header[kSlotBytes] = bytes;
    assert.throws(() => new FrameRing(buffer), /corrupt header/);
  }
});

test('RingStats: drops by reason and the source info are shared through the buffer', () => {
  const ring = FrameRing.create({ slots: 2, slotBytes: 1024 });
  const writer = stats(ring);
  const reader = new RingStats(ring.buffer);
  writer.countDrop('encoder-busy');
  writer.countDrop('corrupt', 3);
  assert.deepEqual([reader.dropped('oversize'), reader.dropped('encoder-busy'), reader.dropped('corrupt')], [0, 1, 3]);
  writer.setSourceInfo(29.97, 640, 480);
  assert.deepEqual(reader.sourceInfo(), { fps: 29.97, width: 640, height: 480 });
});
