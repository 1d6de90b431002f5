/**
 * The frame ring under real concurrency: one writer thread publishing as fast as it can into a
 * tiny ring (so slots are overwritten constantly), several reader threads copying frames out at
 * the same time. Every frame a reader accepts is checked byte for byte (frames are
 * self-describing, see fixtures/ring-stress-frames.ts); the seqlock validation must reject every
 * copy the writer overwrote while it was being made.
 *
 * No timing is asserted, only counts: the writer runs for 2 s and then until every reader has
 * accepted enough distinct frames (10 s at most: on a loaded machine a spinning reader may hold a
 * core for whole time slices while the writer waits for one), the readers stop after it. Threads
 * start together through a SharedArrayBuffer gate.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { FrameRing } from '../../src/core/ring.js';
import { RingStats } from '../../src/core/ring-stats.js';
import {
  checkFrame,
  frameLength,
  kCtlFields,
  kCtlGo,
  type ReaderData,
  type ReaderResult,
  type WriterData,
  type WriterResult,
} from '../fixtures/ring-stress-frames.js';

const writerUrl = new URL('../fixtures/ring-stress-writer.js', import.meta.url);
const readerUrl = new URL('../fixtures/ring-stress-reader.js', import.meta.url);

const MIN_WRITE_MS = 2000;
const MAX_WRITE_MS = 10_000;
const MIN_FRAMES_PER_READER = 500;

/** A worker's 'ready' and final 'result' messages as promises; an error or early exit rejects both. */
function track<R>(worker: Worker, name: string): { ready: Promise<void>; result: Promise<R> } {
  const failed = new Promise<never>((_, reject) => {
    worker.on('error', (e) => reject(new Error(`${name} failed: ${e.message}`)));
    worker.on('exit', (code) => reject(new Error(`${name} exited (code ${code}) before reporting`)));
  });
  failed.catch(() => {}); // surfaces through the races below
  const message = (type: string) =>
    new Promise<unknown>((resolve) => worker.on('message', (m: { type: string }) => m.type === type && resolve(m)));
  return {
    ready: Promise.race([message('ready').then(() => {}), failed]),
    result: Promise.race([message('result') as Promise<R>, failed]),
  };
}

interface StressRun {
  ring: FrameRing;
  writer: WriterResult;
  readers: ReaderResult[];
}

async function stress(slots: number, slotBytes: number, modes: ReaderData['mode'][]): Promise<StressRun> {
  const ring = FrameRing.create({ slots, slotBytes });
  const control = new SharedArrayBuffer(kCtlFields * 4);
  const ctl = new Int32Array(control);
  const workers: Worker[] = [];
  let waker: NodeJS.Timeout | undefined;
  try {
    const writerData: WriterData = {
      ring: ring.buffer,
      control,
      minMs: MIN_WRITE_MS,
      maxMs: MAX_WRITE_MS,
      readers: modes.length,
      readerFrames: MIN_FRAMES_PER_READER,
      oversizeEvery: 1000,
    };
    const writerWorker = new Worker(writerUrl, { workerData: writerData });
    workers.push(writerWorker);
    const writer = track<WriterResult>(writerWorker, 'writer');
    const readers = modes.map((mode, i) => {
      const data: ReaderData = { ring: ring.buffer, control, mode, index: i, maxMs: MAX_WRITE_MS + 5000 };
      const w = new Worker(readerUrl, { workerData: data });
      workers.push(w);
      return track<ReaderResult>(w, `reader ${i} (${mode})`);
    });

    await Promise.all([writer.ready, ...readers.map((r) => r.ready)]);
    Atomics.store(ctl, kCtlGo, 1);
    Atomics.notify(ctl, kCtlGo);

    const writerResult = await writer.result;
    // A 'wait' reader may have gone to sleep just after the writer's final wakeReaders: keep waking
    // until every reader has reported.
    waker = setInterval(() => ring.wakeReaders(), 20);
    const readerResults = await Promise.all(readers.map((r) => r.result));
    return { ring, writer: writerResult, readers: readerResults };
  } finally {
    clearInterval(waker);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function describe(run: StressRun): string {
  const { writer, readers } = run;
  const lines = [`writer: published ${writer.published}, oversize ${writer.oversize}, last seq ${writer.lastSeq}`];
  for (const r of readers) {
    lines.push(
      `reader ${r.mode}: accepted ${r.accepted}, distinct ${r.distinct}, gaps ${r.gaps}, overtaken ${r.overtaken}, ` +
        `gave up ${r.gaveUp}, discarded bad copies ${r.discardedBad}, torn accepted ${r.tornAccepted}, wakeups ${r.wakeups}`,
    );
  }
  return lines.join('\n');
}

function checkRun(run: StressRun, t: { diagnostic(message: string): void }): void {
  const { ring, writer, readers } = run;
  const summary = describe(run);
  t.diagnostic(summary);

  assert.deepEqual(writer.errors, [], summary);
  const stats = new RingStats(ring.buffer);
  assert.equal(stats.published(), writer.published, 'published() counts every publish');
  assert.equal(stats.dropped('oversize'), writer.oversize, 'dropped(oversize) counts every oversize frame');
  assert.ok(writer.oversize > 0, 'the writer tried some oversize frames');
  assert.equal(ring.latestSeq(), writer.lastSeq);

  for (const r of readers) {
    // The one property everything else rests on: no torn or mixed frame is ever handed on.
    assert.equal(r.tornAccepted, 0, `${r.mode} reader accepted torn frames: ${r.problems.join(' | ')}\n${summary}`);
    assert.equal(r.backwards, 0, `${r.mode} reader went back to an older frame\n${summary}`);
    assert.ok(r.distinct >= MIN_FRAMES_PER_READER, `${r.mode} reader accepted only ${r.distinct} distinct frames\n${summary}`);
    assert.ok(r.lastSeq <= writer.lastSeq);
    // Frames were skipped: the reader was copying while the writer kept publishing.
    assert.ok(r.gaps > 0, `${r.mode} reader never skipped a frame\n${summary}`);
  }
  // Readers really raced the writer: some copies were overtaken mid-read and thrown away.
  const overtaken = readers.reduce((n, r) => n + r.overtaken + r.gaveUp, 0);
  assert.ok(overtaken > 0, `no read was ever overtaken\n${summary}`);

  // After the run the newest frame reads back whole in this thread too.
  const last = ring.readJpeg();
  assert.ok(last);
  assert.equal(last.seq, writer.lastSeq);
  assert.equal(last.length, frameLength(last.seq, ring.slotBytes));
  assert.equal(checkFrame(last.seq, ring.slotBytes, last.dest.bytes, 0, last.length), -1);
}

test('3 readers copy frames while a writer overwrites a 3-slot ring: none is torn', { timeout: 20_000 }, async (t) => {
  checkRun(await stress(3, 4096, ['spin', 'spin', 'wait']), t);
});

test('the same on a ring of 2 slots, the minimum: no publish interval of slack', { timeout: 20_000 }, async (t) => {
  checkRun(await stress(2, 4096, ['spin', 'spin', 'wait']), t);
});
