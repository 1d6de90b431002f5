/**
 * The multipart/x-mixed-replace parser (src/multipart-parser.ts) on crafted streams, each fed in
 * pieces from 1 byte to 4 KB (and in seeded random sizes): every JPEG must come out byte-equal,
 * in order, whatever the piece size, and every bad part must be dropped and counted.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  boundaryFromContentType,
  delimiterFor,
  isMultipartContentType,
  MultipartParser,
  type DropReason,
  type PartHeaders,
} from '../../src/drivers/mjpeg/multipart-parser.js';

const ASSETS = new URL('../../../assets/emulated/', import.meta.url);
const JPEGS = ['1.jpg', '2.jpg', '3.jpg'].map((n) => readFileSync(new URL(n, ASSETS)));
const [J1, J2, J3] = JPEGS as [Buffer, Buffer, Buffer];

const PIECE_SIZES = [1, 2, 3, 5, 7, 13, 64, 100, 511, 1024, 4096];

interface Result {
  frames: Buffer[];
  headers: PartHeaders[];
  drops: { reason: DropReason; detail: string }[];
  parser: MultipartParser;
}

function newParser(boundary: string | undefined, maxFrameBytes?: number, maxHeaderBytes?: number): Result {
  const r: Result = { frames: [], headers: [], drops: [], parser: null as unknown as MultipartParser };
  r.parser = new MultipartParser({
    boundary,
    maxFrameBytes,
    maxHeaderBytes,
    // Copy: the parser may hand out views of the chunks, which must stay valid; the copy also
    // proves the bytes were right at the time of the callback.
    onFrame: (jpeg, headers) => {
      r.frames.push(Buffer.from(jpeg));
      r.headers.push(headers);
    },
    onDrop: (reason, detail) => r.drops.push({ reason, detail }),
  });
  return r;
}

/** Feeds `stream` in pieces of `size` bytes, each piece its own buffer (as a socket delivers). */
function parseInPieces(boundary: string | undefined, stream: Buffer, size: number, maxFrameBytes?: number): Result {
  const r = newParser(boundary, maxFrameBytes);
  for (let i = 0; i < stream.length; i += size) r.parser.push(Buffer.from(stream.subarray(i, i + size)));
  return r;
}

/** A small deterministic PRNG (mulberry32), so a failing random split can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseInRandomPieces(boundary: string | undefined, stream: Buffer, seed: number): Result {
  const r = newParser(boundary);
  const rand = prng(seed);
  for (let i = 0; i < stream.length; ) {
    const size = 1 + Math.floor(rand() * 4096);
    r.parser.push(Buffer.from(stream.subarray(i, i + size)));
    i += size;
  }
  return r;
}

/**
 * Asserts that every way of feeding `stream` yields exactly `expected` (byte-equal, in order)
 * and drops `corrupt` parts or frames.
 */
function assertParses(boundary: string | undefined, stream: Buffer, expected: readonly Buffer[], corrupt = 0): Result {
  let last: Result | null = null;
  const runs: [string, () => Result][] = [
    ...PIECE_SIZES.map((size): [string, () => Result] => [`pieces of ${size} bytes`, () => parseInPieces(boundary, stream, size)]),
    ...[1, 2, 3].map((seed): [string, () => Result] => [`random pieces, seed ${seed}`, () => parseInRandomPieces(boundary, stream, seed)]),
    ['one piece', () => parseInPieces(boundary, stream, stream.length)],
  ];
  for (const [how, run] of runs) {
    const r = run();
    assert.equal(
      r.frames.length,
      expected.length,
      `${how}: ${r.frames.length} frames, expected ${expected.length} (drops: ${r.drops.map((d) => d.detail).join('; ')})`,
    );
    for (const [i, f] of r.frames.entries())
      assert.ok(
        f.equals(expected[i]!),
        `${how}: frame ${i} (${f.length} bytes) differs from the expected ${expected[i]!.length}-byte JPEG`,
      );
    assert.equal(r.parser.stats.corrupt, corrupt, `${how}: corrupt count (drops: ${r.drops.map((d) => d.detail).join('; ')})`);
    assert.equal(r.drops.length, corrupt, `${how}: onDrop calls`);
    last = r;
  }
  return last!;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** framering's own format (src/multipart.ts): boundary first, then each part followed by the next boundary. */
function framering(jpegs: readonly Buffer[]): Buffer {
  const out = [latin1('--frame\r\n')];
  for (const j of jpegs) {
    out.push(
      latin1(`Content-Type: image/jpeg\r\nContent-Length: ${j.length}\r\nX-Timestamp: 1700000000.000001\r\n\r\n`),
      j,
      latin1('\r\n--frame\r\n'),
    );
  }
  return Buffer.concat(out);
}

interface PartStyle {
  eol?: string;
  contentLength?: boolean | number;
  headerCase?: (name: string) => string;
  type?: string;
}

/** One part, delimiter first: `--B` EOL headers EOL body EOL. */
function part(boundary: string, body: Buffer, style: PartStyle = {}): Buffer {
  const eol = style.eol ?? '\r\n';
  const name = style.headerCase ?? ((n: string) => n);
  let head = `--${boundary}${eol}${name('Content-Type')}: ${style.type ?? 'image/jpeg'}${eol}`;
  if (style.contentLength !== false)
    head += `${name('Content-Length')}: ${typeof style.contentLength === 'number' ? style.contentLength : body.length}${eol}`;
  return Buffer.concat([latin1(head + eol), body, latin1(eol)]);
}

describe('boundaryFromContentType', () => {
  test('reads the boundary quoted or not, in any case, with other parameters around it', () => {
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; boundary=frame'), 'frame');
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace;boundary=boundarydonotcross'), 'boundarydonotcross');
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; BOUNDARY="my boundary"; charset=x'), 'my boundary');
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; charset=x; boundary = abc ; x=y'), 'abc');
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; boundary="a\\"b"'), 'a"b');
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; boundary=--myboundary'), '--myboundary');
  });

  test('undefined without a boundary parameter', () => {
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace'), undefined);
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; boundary='), undefined);
    assert.equal(boundaryFromContentType('multipart/x-mixed-replace; boundary=""'), undefined);
    assert.equal(boundaryFromContentType(undefined), undefined);
  });

  test('isMultipartContentType accepts any multipart type, nothing else', () => {
    assert.ok(isMultipartContentType('multipart/x-mixed-replace; boundary=x'));
    assert.ok(isMultipartContentType('Multipart/Mixed'));
    assert.ok(!isMultipartContentType('text/html'));
    assert.ok(!isMultipartContentType('image/jpeg'));
    assert.ok(!isMultipartContentType(undefined));
  });

  test('the body delimiter drops a leading -- that belongs only in the body', () => {
    assert.equal(delimiterFor('frame').toString(), '--frame');
    assert.equal(delimiterFor('--myboundary').toString(), '--myboundary');
    assert.equal(delimiterFor('--').toString(), '----');
  });
});

describe('MultipartParser', () => {
  test("framering's own stream (Content-Length, boundary after each part)", () => {
    const r = assertParses('frame', framering([J1, J2, J3, J1]), [J1, J2, J3, J1]);
    assert.equal(r.headers[0]!['content-type'], 'image/jpeg');
    assert.equal(r.headers[0]!['x-timestamp'], '1700000000.000001');
  });

  test("mjpg-streamer's stream (preamble CRLF, boundarydonotcross)", () => {
    const b = 'boundarydonotcross';
    const stream = Buffer.concat([
      latin1(`\r\n--${b}\r\n`),
      ...[J1, J2, J3].flatMap((j) => [
        latin1(`Content-Type: image/jpeg\r\nContent-Length: ${j.length}\r\nX-Timestamp: 12.000345\r\n\r\n`),
        j,
        latin1(`\r\n--${b}\r\n`),
      ]),
    ]);
    assertParses(boundaryFromContentType(`multipart/x-mixed-replace;boundary=${b}`), stream, [J1, J2, J3]);
  });

  test('parts without Content-Length, CRLF', () => {
    const stream = Buffer.concat([J1, J2, J3].map((j) => part('myboundary', j, { contentLength: false })));
    assertParses('myboundary', Buffer.concat([stream, latin1('--myboundary\r\n')]), [J1, J2, J3]);
  });

  test('bare LF line endings, with and without Content-Length, header names in any case', () => {
    const stream = Buffer.concat([
      part('cam', J1, { eol: '\n', contentLength: false }),
      part('cam', J2, { eol: '\n', headerCase: (n) => n.toUpperCase() }),
      part('cam', J3, { eol: '\n', headerCase: (n) => n.toLowerCase(), contentLength: false }),
      part('cam', J1, { eol: '\n', headerCase: (n) => n.toLowerCase() }),
      latin1('--cam\n'),
    ]);
    const r = assertParses('cam', stream, [J1, J2, J3, J1]);
    assert.equal(r.headers[1]!['content-length'], String(J2.length), 'header names are lower-cased');
  });

  test('a quoted boundary', () => {
    const b = boundaryFromContentType('multipart/x-mixed-replace; boundary="quoted:boundary"')!;
    const stream = Buffer.concat([
      part('quoted:boundary', J1),
      part('quoted:boundary', J2, { contentLength: false }),
      latin1('--quoted:boundary--\r\n'),
    ]);
    assertParses(b, stream, [J1, J2]);
  });

  test('a boundary announced with the leading -- (wrongly, as some cameras do, or correctly)', () => {
    const announced = boundaryFromContentType('multipart/x-mixed-replace; boundary=--myboundary')!;
    // Wrong but common: the body uses the announced string itself as the delimiter.
    const wrong = Buffer.concat([part('myboundary', J1), part('myboundary', J2, { contentLength: false }), latin1('--myboundary\r\n')]);
    assertParses(announced, wrong, [J1, J2]);
    // RFC 2046: the body adds -- to the announced boundary.
    const right = Buffer.concat([
      part('--myboundary', J1),
      part('--myboundary', J2, { contentLength: false }),
      latin1('----myboundary\r\n'),
    ]);
    assertParses(announced, right, [J1, J2]);
  });

  test('a preamble before the first boundary, with near-misses of the delimiter in it', () => {
    const stream = Buffer.concat([latin1('This is a multi-part message. --fr --fram -frame\r\n\r\n'), framering([J1, J2])]);
    assertParses('frame', stream, [J1, J2]);
  });

  test('a preamble that holds a JPEG (a stream that starts without its boundary) still yields it', () => {
    const stream = Buffer.concat([latin1('Content-Type: image/jpeg\r\n\r\n'), J3, latin1('\r\n'), framering([J1, J2])]);
    assertParses('frame', stream, [J3, J1, J2]);
  });

  test('garbage parts are dropped and counted, their neighbours delivered intact', () => {
    const stream = Buffer.concat([
      part('frame', J1),
      part('frame', latin1('hello, not a picture'), { type: 'text/plain' }), // counted
      part('frame', J2, { contentLength: false }),
      part('frame', latin1('hello again, no length either'), { type: 'text/plain', contentLength: false }), // no JPEG
      part('frame', J3.subarray(0, 5000)), // Content-Length right, JPEG cut short
      part('frame', J1.subarray(0, 5000), { contentLength: false }), // cut short, found by structure
      part('frame', J3),
      latin1('--frame\r\n'),
    ]);
    const r = assertParses('frame', stream, [J1, J2, J3], 4);
    assert.ok(r.drops.every((d) => d.reason === 'corrupt'));
    assert.match(r.drops[0]!.detail, /part 2 \(20 bytes, text\/plain\) is not a complete JPEG/);
    assert.match(r.drops[1]!.detail, /part 4 \(no Content-Length, text\/plain\) holds no complete JPEG/);
  });

  test('a Content-Length that disagrees with the JPEG inside: too short drops it, counting the CRLF is forgiven', () => {
    const stream = Buffer.concat([
      part('frame', J1, { contentLength: J1.length - 10 }), // the tail is skipped to the next delimiter
      part('frame', Buffer.concat([J2, latin1('\r\n')]), { contentLength: J2.length + 2 }),
      part('frame', J3),
      latin1('--frame\r\n'),
    ]);
    assertParses('frame', stream, [J2, J3], 1);
  });

  test('a delimiter split across chunks at every position', () => {
    const stream = Buffer.concat([
      part('a-fairly-long-boundary-string', J1, { contentLength: false }),
      part('a-fairly-long-boundary-string', J2),
      latin1('--a-fairly-long-boundary-string\r\n'),
    ]);
    const second = stream.indexOf('--a-fairly-long-boundary-string', 10);
    for (let cut = second - 3; cut <= second + 35; cut++) {
      const r = newParser('a-fairly-long-boundary-string');
      r.parser.push(Buffer.from(stream.subarray(0, cut)));
      r.parser.push(Buffer.from(stream.subarray(cut)));
      assert.equal(r.frames.length, 2, `cut at ${cut - second} from the delimiter`);
      assert.ok(r.frames[0]!.equals(J1) && r.frames[1]!.equals(J2), `cut at ${cut - second}`);
      assert.equal(r.parser.stats.corrupt, 0);
    }
  });

  test('no line break between a JPEG and the next delimiter, no blank line before one, no headers at all', () => {
    const stream = Buffer.concat([
      latin1('--frame\r\nContent-Type: image/jpeg\r\n\r\n'),
      J1,
      latin1('--frame\r\nContent-Type: image/jpeg\r\n'),
      J2,
      latin1('\r\n--frame\r\n\r\n'),
      J3,
      latin1('\r\n--frame--\r\n'),
    ]);
    assertParses('frame', stream, [J1, J2, J3]);
  });

  test('a part without Content-Length is found by JPEG structure: an EXIF thumbnail does not cut it short', () => {
    // SOI, an APP1 segment carrying a whole JPEG (its own FF D8 ... FF D9), then the image.
    const app1Body = Buffer.concat([latin1('Exif\0\0'), J2]);
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (app1Body.length + 2) >> 8, (app1Body.length + 2) & 0xff]), app1Body]);
    const withThumb = Buffer.concat([J1.subarray(0, 2), app1, J1.subarray(2)]);
    const stream = Buffer.concat([
      part('frame', withThumb, { contentLength: false }),
      part('frame', J3, { contentLength: false }),
      latin1('--frame\r\n'),
    ]);
    assertParses('frame', stream, [withThumb, J3]);
  });

  test('a frame is delivered as soon as it is complete, not when the next delimiter arrives', () => {
    for (const contentLength of [true, false]) {
      const r = newParser('frame');
      const p = part('frame', J1, { contentLength });
      r.parser.push(p.subarray(0, p.length - 2)); // everything but the trailing CRLF
      assert.equal(r.frames.length, 1, `contentLength ${contentLength}`);
      assert.ok(r.frames[0]!.equals(J1));
    }
  });

  test('no boundary at all: frames found by JPEG structure between whatever headers there are', () => {
    const stream = Buffer.concat([part('x', J1), part('x', J2, { contentLength: false }), part('x', J3)]);
    assertParses(undefined, stream, [J1, J2, J3]);
  });

  test('a boundary the body never uses: frames are still found by structure', () => {
    assertParses('not-the-boundary', framering([J1, J2, J3]), [J1, J2, J3]);
  });

  test('a Content-Length beyond maxFrameBytes is refused on the headers, the part skipped to the next delimiter', () => {
    // Before, such a part was searched by JPEG structure, so a lying Content-Length still
    // delivered its frame; now the declared size alone refuses it (counted as oversize), which
    // is what lets the relay skip a 200 MB part without looking into it. The next part is fine.
    const lying = Buffer.concat([part('frame', J1, { contentLength: 999_999_999 }), part('frame', J2), latin1('--frame\r\n')]);
    for (const size of [1, 7, 4096]) {
      const r = parseInPieces('frame', lying, size, 1024 * 1024);
      assert.deepEqual(
        r.frames.map((f) => f.length),
        [J2.length],
        `pieces of ${size}`,
      );
      assert.deepEqual(
        r.drops.map((d) => d.reason),
        ['oversize'],
      );
      assert.match(r.drops[0]!.detail, /^part 1 declares Content-Length 999999999, more than the 1048576-byte limit$/);
    }
    const big = Buffer.concat([part('frame', J1, { contentLength: false }), part('frame', J2), latin1('--frame\r\n')]);
    const r = parseInPieces('frame', big, 4096, 8 * 1024);
    // J1 (11 KB, found by structure) and J2 (12 KB, its Content-Length over the limit) are both
    // larger than 8 KB; neither part is counted a second time as corrupt.
    assert.equal(r.frames.length, 0);
    assert.equal(r.parser.stats.oversize, 2);
    assert.equal(r.parser.stats.corrupt, 0);
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['oversize', 'oversize'],
    );
  });

  test('a 200 MB Content-Length is refused at its headers and none of its bytes is kept', () => {
    // An upstream declared Content-Length: 200000000 and the relay collected it all (its limit
    // was the largest possible ring slot, 256 MiB): RSS 85 -> 319 MB per relay camera.
    const limit = 1024 * 1024;
    const r = newParser('frame', limit);
    r.parser.push(latin1('--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 200000000\r\n\r\n'));
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['oversize'],
      'dropped on its headers, before any of its body',
    );
    // 32 MB of what looks like one JPEG's scan data (SOI, SOS, then bytes without FF), in
    // socket-sized chunks: nothing of it is held.
    const chunk = Buffer.alloc(64 * 1024, 0x55);
    r.parser.push(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]));
    let most = 0;
    for (let i = 0; i < 512; i++) {
      r.parser.push(chunk);
      most = Math.max(most, r.parser.bufferedBytes);
    }
    assert.ok(most < '--frame'.length, `held ${most} bytes of the refused part`);
    r.parser.push(Buffer.concat([latin1('\r\n'), part('frame', J1), latin1('--frame\r\n')]));
    assert.equal(r.frames.length, 1, 'the next part is delivered');
    assert.ok(r.frames[0]!.equals(J1));
    assert.equal(r.parser.stats.oversize, 1);
    assert.equal(r.parser.stats.corrupt, 0);
  });

  test('a part without Content-Length whose JPEG never ends holds at most maxFrameBytes, then is dropped as oversize', () => {
    // The other way an upstream made the relay grow (343 MB): a JPEG with no end and no length.
    const limit = 256 * 1024;
    const r = newParser('frame', limit);
    r.parser.push(latin1('--frame\r\nContent-Type: image/jpeg\r\n\r\n'));
    r.parser.push(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]));
    const chunk = Buffer.alloc(64 * 1024, 0x55);
    let most = 0;
    for (let i = 0; i < 256; i++) {
      r.parser.push(chunk);
      most = Math.max(most, r.parser.bufferedBytes);
    }
    assert.ok(most <= limit, `held ${most} bytes, more than the ${limit}-byte limit`);
    assert.equal(r.parser.stats.oversize, 1);
    r.parser.push(Buffer.concat([latin1('\r\n'), part('frame', J1), latin1('--frame\r\n')]));
    assert.equal(r.frames.length, 1);
    assert.ok(r.frames[0]!.equals(J1));
    assert.equal(r.parser.stats.corrupt, 0, 'the part cut short is not counted twice');
  });

  test('oversized part headers are dropped and the parser resynchronises', () => {
    const r = newParser('frame', undefined, 256);
    const stream = Buffer.concat([
      latin1(`--frame\r\nX-Junk: ${'j'.repeat(1000)}\r\n\r\n`),
      J1,
      latin1('\r\n'),
      part('frame', J2),
      latin1('--frame\r\n'),
    ]);
    for (let i = 0; i < stream.length; i += 13) r.parser.push(Buffer.from(stream.subarray(i, i + 13)));
    assert.equal(r.frames.length, 1);
    assert.ok(r.frames[0]!.equals(J2));
    assert.equal(r.parser.stats.corrupt, 1);
    assert.match(r.drops[0]!.detail, /part headers longer than 256 bytes/);
  });

  test('memory stays bounded: megabytes without a delimiter keep only a possible delimiter prefix', () => {
    const r = newParser('frame');
    r.parser.push(framering([J1]));
    // Each piece ends in "--fram": the parser must hold those 6 bytes, and only those.
    const junk = latin1(`${'no boundary in here, just text that goes on and on -- --fr --fra --fram\r\n'.repeat(60)}--fram`);
    let most = 0;
    for (let i = 0; i < 200; i++) {
      r.parser.push(junk);
      most = Math.max(most, r.parser.bufferedBytes);
    }
    assert.ok(most < '--frame'.length, `held ${most} bytes`);
    r.parser.push(framering([J2]));
    assert.equal(r.frames.length, 2);
    assert.ok(r.frames[1]!.equals(J2));
  });
});
