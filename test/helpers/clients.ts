/**
 * Real MJPEG clients against framering, for the interoperability suite
 * (test/integration/clients-*.test.ts) and the compatibility table in docs/clients.md.
 *
 * Every client is a program a user runs (ffmpeg, GStreamer, VLC, mpv, Python libraries, curl,
 * wget) or a browser (Chromium through playwright-core, Firefox ESR through its built-in
 * Marionette protocol), run as a child process in its own process group, killed (SIGKILL to
 * the group) when its run ends or when the test ends, whichever comes first.
 *
 * What a run measures is the same for every client: when each whole frame reached the client
 * (the time of the first one, from the client's start) and, where the client lets us see the
 * picture, which frame it was. The fixture camera (makeClientFrames) loops 30 JPEGs whose top
 * half encodes their index in six black or white stripes, so a client that hands back decoded
 * pixels (ffmpeg, OpenCV, the browsers' canvas) or JPEG bytes (decoded here with sharp) tells us
 * which frame it shows, and the rate at which the picture advances is measured in source
 * frames, even where a sampler misses some.
 *
 * Each run appends one JSON line to test-artifacts/clients.jsonl (recordResult);
 * clients-table.ts turns the newest line of every (client, variant, front end, path) into the
 * table of docs/clients.md.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './paths.js';
import { createTestServer, type TestServer } from './server.js';
import { hasCommand, missing } from './requirements.js';
import { sleep } from './wait.js';

// The fixture camera.

/** The fixture's frame size and rate. */
export const FRAME_WIDTH = 320;
export const FRAME_HEIGHT = 240;
export const SOURCE_FPS = 30;
/** Frames in the loop; the index is 0..CYCLE-1. */
export const CYCLE = 30;
/** The bottom half's colour: what a screenshot shows when the picture is there. */
export const FILL_RGB = [200, 60, 30] as const;

/** The client suites' server: the fixture frames on a files camera at SOURCE_FPS. */
export interface ClientServer {
  readonly server: TestServer;
  /** Stops the server and deletes the frames. */
  close(): Promise<void>;
}

export async function startClientServer(frontEnd: string): Promise<ClientServer> {
  const frames = await makeClientFrames();
  const server = await createTestServer(['--http', frontEnd, '--camera', 'files', '--source', frames.dir, '--fps', String(SOURCE_FPS)]);
  return {
    server,
    async close() {
      await server.close();
      await frames.remove();
    },
  };
}

/**
 * Writes the fixture's CYCLE JPEGs into a new temporary folder (remove() deletes it):
 * 320x240; in the top half, stripe k (40 px wide) is white when bit k of the index is set
 * (k = 0..5), stripe 6 always white and stripe 7 always black (so a half-drawn or foreign
 * picture does not read as a frame); the bottom half is FILL_RGB with some noise, which makes
 * frames of a camera's size (about 20 KB) for clients that read in large blocks.
 */
export async function makeClientFrames(): Promise<{ dir: string; remove(): Promise<void> }> {
  const sharp = (await import('sharp')).default;
  const dir = await mkdtemp(join(tmpdir(), 'framering-clients-'));
  let seed = 1;
  const noise = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed % 41) - 20;
  };
  for (let i = 0; i < CYCLE; i++) {
    const px = Buffer.alloc(FRAME_WIDTH * FRAME_HEIGHT * 3);
    for (let y = 0; y < FRAME_HEIGHT; y++) {
      for (let x = 0; x < FRAME_WIDTH; x++) {
        let rgb: readonly number[] = FILL_RGB.map((v) => v + noise());
        if (y < FRAME_HEIGHT / 2) {
          const stripe = Math.floor(x / 40);
          const on = stripe < 6 ? (i >> stripe) & 1 : stripe === 6 ? 1 : 0;
          rgb = on ? [255, 255, 255] : [0, 0, 0];
        }
        px.set(rgb, (y * FRAME_WIDTH + x) * 3);
      }
    }
    const jpeg = await sharp(px, { raw: { width: FRAME_WIDTH, height: FRAME_HEIGHT, channels: 3 } })
      .jpeg({ quality: 80 })
      .toBuffer();
    await writeFile(join(dir, `${String(i).padStart(3, '0')}.jpg`), jpeg);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The frame index from the brightness of the 8 stripes (left to right), or -1 if it is not one of ours. */
export function indexFromStripes(luma: ArrayLike<number>): number {
  const bit = (k: number): boolean => luma[k]! > 128;
  if (!bit(6) || bit(7)) return -1;
  let index = 0;
  for (let k = 0; k < 6; k++) if (bit(k)) index |= 1 << k;
  return index < CYCLE ? index : -1;
}

/** Decodes a JPEG (sharp) and reads its frame index; -1 if it does not decode or is not ours. */
export async function indexOfJpeg(jpeg: Buffer): Promise<number> {
  const sharp = (await import('sharp')).default;
  try {
    const { data, info } = await sharp(jpeg).greyscale().raw().toBuffer({ resolveWithObject: true });
    if (info.width !== FRAME_WIDTH || info.height !== FRAME_HEIGHT) return -1;
    const row = 60 * info.width;
    return indexFromStripes(Array.from({ length: 8 }, (_, k) => data[row + 20 + 40 * k]!));
  } catch {
    return -1;
  }
}

// What a client saw.

/** One frame as the client got it: ms since the client started, and its index (-1 unknown or bad, null when the client shows no pixels). */
export interface Observation {
  at: number;
  index: number | null;
}

export interface ClientRun {
  observations: Observation[];
  /** Frames that arrived torn, undecodable or not ours, and protocol errors. */
  bad: string[];
  /** The client's stderr (and stdout for line clients), last 4 KB. */
  output: string;
  /** How the run ended: 'stopped' (by us) or the client's own exit. */
  ended: string;
  /** ms the run lasted. */
  durationMs: number;
}

export interface Measures {
  /** Frames received (or displayed). */
  frames: number;
  /** ms from the client's start to its first frame; null if none came. */
  firstFrameMs: number | null;
  /**
   * Steady rate from 1 s after the first frame to the end: source frames the picture advanced
   * per second where the client shows indices, else frames per second.
   */
  fps: number | null;
  /** Longest gap between two frames in that window, ms. */
  maxGapMs: number | null;
  bad: number;
}

const SETTLE_MS = 1000;

export function measure(run: ClientRun): Measures {
  const obs = run.observations;
  const first = obs[0];
  if (!first) return { frames: 0, firstFrameMs: null, fps: null, maxGapMs: null, bad: run.bad.length };
  const from = first.at + SETTLE_MS;
  const window = obs.filter((o) => o.at >= from);
  const span = run.durationMs - from;
  let fps: number | null = null;
  let maxGapMs: number | null = null;
  if (span >= 1000) {
    const indexed = window.every((o) => o.index !== null && o.index >= 0);
    let advanced = 0;
    if (indexed && window.length > 0) {
      const before = [...obs].reverse().find((o) => o.at < from);
      let prev = before?.index ?? window[0]!.index!;
      for (const o of window) {
        advanced += (o.index! - prev + CYCLE) % CYCLE;
        prev = o.index!;
      }
    } else advanced = window.length;
    fps = advanced / (span / 1000);
    let last = from;
    maxGapMs = 0;
    for (const o of window) {
      maxGapMs = Math.max(maxGapMs, o.at - last);
      last = o.at;
    }
    maxGapMs = Math.max(maxGapMs, run.durationMs - last);
  }
  return {
    frames: obs.length,
    firstFrameMs: Math.round(first.at),
    fps: fps === null ? null : round1(fps),
    maxGapMs: maxGapMs === null ? null : Math.round(maxGapMs),
    bad: run.bad.length,
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

// A streaming multipart reader for byte-stream clients (curl, wget, VLC's remux, Python libraries).

/**
 * Cuts a multipart/x-mixed-replace body into parts as bytes arrive: boundary line, headers,
 * Content-Length bytes of JPEG, CRLF. A part whose length or markers are wrong is reported and
 * parsing stops (everything after it would be guesswork).
 */
export class MultipartReader {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(
    private readonly onPart: (jpeg: Buffer) => void,
    private readonly onError: (what: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const start = this.buf.indexOf('--');
      if (start < 0) return;
      const headEnd = this.buf.indexOf('\r\n\r\n', start);
      if (headEnd < 0) {
        if (this.buf.length - start > 16 * 1024) this.fail('a part header block longer than 16 KB');
        return;
      }
      const head = this.buf.subarray(start, headEnd).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) {
        this.fail(`a part without Content-Length: ${JSON.stringify(head.slice(0, 120))}`);
        return;
      }
      const length = Number(m[1]);
      const bodyStart = headEnd + 4;
      if (this.buf.length < bodyStart + length + 2) return;
      // VLC's remux keeps the CRLF that closed the source's part inside its own parts: trailing
      // line ends after the JPEG's end marker are not a torn frame.
      let body = this.buf.subarray(bodyStart, bodyStart + length);
      while (body.length > 2 && (body[body.length - 1] === 0x0a || body[body.length - 1] === 0x0d)) body = body.subarray(0, -1);
      if (this.buf.subarray(bodyStart + length, bodyStart + length + 2).toString('latin1') !== '\r\n') {
        this.fail('a part not followed by CRLF where its Content-Length ends');
        return;
      }
      if (body[0] !== 0xff || body[1] !== 0xd8 || body[body.length - 2] !== 0xff || body[body.length - 1] !== 0xd9) {
        this.fail(`a part of ${length} bytes that is not a whole JPEG`);
        return;
      }
      this.onPart(Buffer.from(body));
      this.buf = this.buf.subarray(bodyStart + length + 2);
    }
  }

  private fail(what: string): void {
    this.failed = true;
    this.onError(what);
  }
}

// Running a client.

export type Output =
  /** stdout carries multipart parts (a stream as received, or parts written by our Python shim). */
  | { kind: 'multipart' }
  /** stdout carries 8x2 grey pictures (16 bytes each), row 0 crossing the stripes: ffmpeg's rawvideo. */
  | { kind: 'stripes' }
  /** A line of stdout or stderr matching `frame` is one frame; its group 1, if any, the index. */
  | { kind: 'lines'; frame: RegExp; bad?: RegExp };

export interface Command {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  output: Output;
}

export interface RunOptions {
  /** Give up waiting for the first frame after this long, ms. */
  firstFrameTimeoutMs: number;
  /** Keep the client running this long after its first frame, ms (default 4000). */
  watchMs?: number;
}

/** Processes started by runClient, killed if still alive when the test ends. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs `cmd` until `watchMs` after its first frame (or `firstFrameTimeoutMs` without one, or
 * its own exit), then kills its process group. Never outlives the test.
 */
export async function runClient(t: TestContext, cmd: Command, options: RunOptions): Promise<ClientRun> {
  const watchMs = options.watchMs ?? 4000;
  const t0 = performance.now();
  const child = spawn(cmd.file, cmd.args, {
    env: { ...process.env, ...cmd.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.after(() => killGroup(child));
  const observations: Observation[] = [];
  const bad: string[] = [];
  let output = '';
  const keep = (s: string): void => {
    output = (output + s).slice(-4096);
  };
  const now = (): number => performance.now() - t0;
  let stopAt = options.firstFrameTimeoutMs;
  const seen = (at: number, index: number | null): void => {
    if (observations.length === 0) stopAt = at + watchMs;
    observations.push({ at, index });
  };

  // JPEGs are decoded one after another so indices stay in arrival order.
  let decoding: Promise<void> = Promise.resolve();
  const out = cmd.output;
  if (out.kind === 'multipart') {
    const reader = new MultipartReader(
      (jpeg) => {
        const at = now();
        decoding = decoding.then(async () => {
          const index = await indexOfJpeg(jpeg);
          if (index < 0) bad.push(`a ${jpeg.length}-byte JPEG that does not decode to a fixture frame`);
          seen(at, index);
        });
      },
      (what) => bad.push(what),
    );
    child.stdout.on('data', (d: Buffer) => reader.push(d));
  } else if (out.kind === 'stripes') {
    let pending: Buffer = Buffer.alloc(0);
    child.stdout.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 16) {
        const index = indexFromStripes(pending.subarray(0, 8));
        if (index < 0) bad.push(`a decoded picture that is not a fixture frame: ${[...pending.subarray(0, 8)].join(',')}`);
        seen(now(), index);
        pending = pending.subarray(16);
      }
    });
  }
  const onLine = (line: string): void => {
    if (out.kind !== 'lines') return;
    const m = out.frame.exec(line);
    if (m) {
      const index = m[1] === undefined ? null : Number(m[1]);
      if (index !== null && index < 0) bad.push(line);
      seen(now(), index);
    } else if (out.bad?.test(line)) bad.push(line.slice(0, 200));
  };
  const lines = (stream: NodeJS.ReadableStream, echo: boolean): void => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      if (echo) keep(d);
      rest += d;
      const parts = rest.split(/\r?\n|\r/);
      rest = parts.pop()!;
      for (const line of parts) onLine(line);
    });
  };
  lines(child.stderr, true);
  if (out.kind === 'lines') lines(child.stdout, false);

  const exited = once(child, 'exit').then(([code, signal]) => `exited ${signal ?? code}`);
  let ended = 'stopped';
  for (;;) {
    const remaining = stopAt - now();
    if (remaining <= 0) break;
    const r = await Promise.race([exited, sleep(Math.min(remaining, 100)).then(() => null)]);
    if (r !== null) {
      ended = r;
      break;
    }
  }
  const durationMs = now();
  killGroup(child);
  await Promise.race([exited, sleep(2000)]);
  await decoding;
  return { observations, bad, output, ended, durationMs };
}

// The clients. Each returns the command that watches `url` and reports frames as above.

/** Runs VLC as nobody: it refuses to run as root, which is what CI is. */
const asNobody = (file: string, args: string[]): { file: string; args: string[] } =>
  process.getuid?.() === 0
    ? { file: 'setpriv', args: ['--reuid=65534', '--regid=65534', '--clear-groups', file, ...args] }
    : { file, args };

export const ffmpegView = (url: string, inputFlags: string[]): Command => ({
  file: 'ffmpeg',
  // Each decoded picture scaled to 8x2 grey: row 0 samples the centre of each stripe.
  args: [
    ...['-nostdin', '-hide_banner', '-loglevel', 'error'],
    ...inputFlags,
    ...['-i', url, '-an', '-vf', 'scale=8:2:flags=neighbor,format=gray', '-f', 'rawvideo', '-flush_packets', '1', 'pipe:1'],
  ],
  output: { kind: 'stripes' },
});

export const gstreamer = (pipeline: string[]): Command => ({
  file: 'gst-launch-1.0',
  args: ['-v', ...pipeline],
  // fakesink silent=false announces every buffer it gets ("chain"); -v prints it.
  output: { kind: 'lines', frame: /fakesink\d*: last-message = chain/, bad: /^(WARNING|ERROR)/ },
});

export const gstExplicit = (url: string): Command =>
  gstreamer(['souphttpsrc', `location=${url}`, '!', 'multipartdemux', '!', 'jpegdec', '!', 'fakesink', 'sync=false', 'silent=false']);
export const gstPlaybin = (url: string): Command =>
  gstreamer(['playbin', `uri=${url}`, 'video-sink=fakesink sync=false silent=false', 'audio-sink=fakesink']);

/**
 * VLC remuxing what it plays to stdout as multipart (`--sout`), so every frame that leaves
 * its input and demuxer is seen here and decoded. `--sout-mux-caching=10` only keeps the remux
 * from adding its own 1.5 s; `flags` are the ones being tested.
 */
export const vlc = (url: string, flags: string[]): Command => ({
  ...asNobody('cvlc', [
    ...['-q', '--intf', 'dummy', '--no-audio', '--sout-mux-caching=10'],
    ...flags,
    ...['--sout', '#std{access=file,mux=mpjpeg,dst=-}', url],
  ]),
  env: { HOME: tmpdir() },
  output: { kind: 'multipart' },
});

/** mpv's Lua hook printing a line per frame shown ("tick" follows each displayed frame). */
const MPV_SCRIPT = `mp.register_event("tick", function()
  if mp.get_property_number("time-pos") then io.stdout:write("frame\\n"); io.stdout:flush() end
end)
`;

export async function mpv(t: TestContext, url: string, flags: string[]): Promise<Command> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-mpv-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'frames.lua');
  await writeFile(script, MPV_SCRIPT);
  return {
    file: 'mpv',
    args: ['--no-config', '--really-quiet', '--vo=null', '--ao=null', '--no-audio', `--script=${script}`, ...flags, url],
    output: { kind: 'lines', frame: /^frame$/ },
  };
}

/** Debian's Python, with Debian's modules (python3-opencv, -aiohttp, -requests, -httpx). */
export const PYTHON = '/usr/bin/python3';

/**
 * The Python clients, one program: `MODE URL`. Byte-stream modes copy the response body to
 * stdout as the library hands it over; still modes fetch /snapshot a few times and write each
 * image as a multipart part; opencv prints the index of every decoded picture.
 */
const PYTHON_CLIENTS = String.raw`
import sys
mode, url = sys.argv[1], sys.argv[2]
out = sys.stdout.buffer
def emit(chunk):
    out.write(chunk); out.flush()
def part(jpeg):
    emit(b'--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n' % len(jpeg) + jpeg + b'\r\n')
STILLS = 10
if mode == 'opencv':
    import cv2
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    if not cap.isOpened(): sys.exit('VideoCapture did not open')
    while True:
        ok, img = cap.read()
        if not ok: sys.exit('read() failed')
        if img.shape[:2] != (240, 320): print('frame -1', flush=True); continue
        row = img[60]
        bits = [int(row[20 + 40 * k].mean()) > 128 for k in range(8)]
        idx = sum(1 << k for k in range(6) if bits[k]) if bits[6] and not bits[7] else -1
        print('frame %d' % idx, flush=True)
elif mode == 'requests':
    import requests
    r = requests.get(url, stream=True, timeout=10)
    for chunk in r.iter_content(chunk_size=None): emit(chunk)
elif mode == 'urllib':
    import urllib.request
    r = urllib.request.urlopen(url, timeout=10)
    while True:
        d = r.read1()
        if not d: break
        emit(d)
elif mode == 'aiohttp-stream':
    # Home Assistant's MjpegCamera stream: aiohttp, then async_aiohttp_proxy_stream's read(102400) loop.
    import asyncio, aiohttp
    async def main():
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                while True:
                    d = await r.content.read(102400)
                    if not d: break
                    emit(d)
    asyncio.run(main())
elif mode == 'httpx-stream':
    # Home Assistant's MjpegCamera stream with digest auth: httpx, aiter_bytes(102400).
    import asyncio, httpx
    async def main():
        async with httpx.AsyncClient(timeout=10) as c:
            async with c.stream('GET', url) as r:
                async for d in r.aiter_bytes(102400): emit(d)
    asyncio.run(main())
elif mode == 'httpx-still':
    # Home Assistant's generic camera still image: httpx GET of the still URL.
    import httpx
    with httpx.Client(timeout=10) as c:
        for _ in range(STILLS):
            r = c.get(url); r.raise_for_status(); part(r.content)
elif mode == 'aiohttp-still':
    # Home Assistant's MjpegCamera still image: aiohttp GET of still_image_url, read().
    import asyncio, aiohttp
    async def main():
        async with aiohttp.ClientSession() as s:
            for _ in range(STILLS):
                async with s.get(url) as r:
                    r.raise_for_status(); part(await r.read())
    asyncio.run(main())
else:
    sys.exit('unknown mode ' + mode)
`;

export type PythonMode = 'opencv' | 'requests' | 'urllib' | 'aiohttp-stream' | 'httpx-stream' | 'httpx-still' | 'aiohttp-still';

export const python = (mode: PythonMode, url: string): Command => ({
  file: PYTHON,
  args: ['-u', '-c', PYTHON_CLIENTS, mode, url],
  output: mode === 'opencv' ? { kind: 'lines', frame: /^frame (-?\d+)$/ } : { kind: 'multipart' },
});

export const curl = (url: string): Command => ({
  file: 'curl',
  args: ['--silent', '--show-error', '--no-buffer', url],
  output: { kind: 'multipart' },
});

/** wget to stdout; its log (stderr) says what length it expects. */
export const wget = (url: string): Command => ({
  file: 'wget',
  args: ['--no-config', '--tries=1', '--output-document=-', url],
  output: { kind: 'multipart' },
});

// Browsers: a sampler that runs in the page.

/**
 * Runs in the page: every animation frame, draws the page's first image onto a canvas and
 * reads the stripes; returns [ms since the sampler started, index] at each change, for `ms`.
 * Works on an image document (a stream opened directly) and on a page with an <img> (same
 * origin, so the canvas is readable).
 */
export const SAMPLER = `(ms, done) => {
  const c = document.createElement('canvas');
  c.width = ${FRAME_WIDTH}; c.height = ${FRAME_HEIGHT};
  const ctx = c.getContext('2d', { willReadFrequently: true });
  const out = []; let last = -2; const t0 = performance.now();
  const step = () => {
    const img = document.images[0];
    if (img && img.naturalWidth > 0) {
      try {
        ctx.drawImage(img, 0, 0, ${FRAME_WIDTH}, ${FRAME_HEIGHT});
        const d = ctx.getImageData(0, 60, ${FRAME_WIDTH}, 1).data;
        const bit = (k) => d[(20 + 40 * k) * 4] > 128;
        let idx = 0;
        for (let k = 0; k < 6; k++) if (bit(k)) idx |= 1 << k;
        if (!bit(6) || bit(7) || idx >= ${CYCLE}) idx = -1;
        if (idx !== last) { out.push([Math.round(performance.now() - t0), idx]); last = idx; }
      } catch (e) { out.push([Math.round(performance.now() - t0), String(e)]); }
    }
    if (performance.now() - t0 < ms) requestAnimationFrame(step); else done(out);
  };
  requestAnimationFrame(step);
}`;

/** Where the page's first image is, in CSS pixels (screenshots are 1:1 in headless browsers). */
export const IMAGE_RECT = '(() => { const r = document.images[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()';

/** The frame index shown in a screenshot where the picture occupies `rect` ([left, top, width, height]); -1 if none. */
export async function indexInScreenshot(png: Buffer, rect: readonly number[]): Promise<number> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  const [left, top, width, height] = rect as [number, number, number, number];
  const y = Math.round(top + (60 * height) / FRAME_HEIGHT);
  const luma = Array.from({ length: 8 }, (_, k) => {
    const x = Math.round(left + ((20 + 40 * k) * width) / FRAME_WIDTH);
    return x >= 0 && x < info.width && y >= 0 && y < info.height ? data[y * info.width + x]! : 0;
  });
  return indexFromStripes(luma);
}

/** In the page: whether the first image has a picture yet. */
export const HAS_PICTURE = '(() => { const i = document.images[0]; return !!i && i.naturalWidth > 0; })()';

/** Samples turned into observations (offset: ms from the navigation to the sampler's start). */
export function samplesToObservations(
  samples: readonly (readonly [number, number | string])[],
  offset: number,
): { observations: Observation[]; bad: string[] } {
  const observations: Observation[] = [];
  const bad: string[] = [];
  for (const [at, idx] of samples) {
    if (typeof idx === 'string') bad.push(idx);
    else {
      if (idx < 0) bad.push(`a picture that is not a fixture frame at ${at} ms`);
      observations.push({ at: at + offset, index: idx });
    }
  }
  return { observations, bad };
}

/** Share of a screenshot's pixels near FILL_RGB: well above 0 when the picture is on screen. */
export async function fillShare(png: Buffer): Promise<number> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.abs(data[i]! - FILL_RGB[0]) < 45 && Math.abs(data[i + 1]! - FILL_RGB[1]) < 45 && Math.abs(data[i + 2]! - FILL_RGB[2]) < 45)
      n++;
  }
  return n / (info.width * info.height);
}

// Firefox ESR through Marionette, its built-in remote protocol (no driver to download).

export const FIREFOX = '/usr/bin/firefox-esr';

const FIREFOX_PREFS = {
  'marionette.port': 0, // a free port, written to MarionetteActivePort in the profile
  'app.normandy.enabled': false,
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'datareporting.policy.dataSubmissionEnabled': false,
  'extensions.update.enabled': false,
  'messaging-system.rsexperimentloader.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/',
  'toolkit.telemetry.enabled': false,
};

export interface Firefox {
  /** Runs `script` (a function body) in the current page and returns its value. */
  execute<T>(script: string, args?: unknown[]): Promise<T>;
  /** Runs `script`, whose last argument is a callback, and returns what it passed. */
  executeAsync<T>(script: string, args?: unknown[], timeoutMs?: number): Promise<T>;
  /** Starts loading `url` in the tab and returns at once (a stream never finishes loading). */
  open(url: string): Promise<void>;
  screenshot(): Promise<Buffer>;
  close(): Promise<void>;
}

/** Starts headless Firefox ESR with a fresh profile and a Marionette session; close() ends it (call it in `after`). */
export async function launchFirefox(): Promise<Firefox> {
  const profile = await mkdtemp(join(tmpdir(), 'framering-firefox-'));
  await writeFile(
    join(profile, 'user.js'),
    Object.entries(FIREFOX_PREFS)
      .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`)
      .join(''),
  );
  const child = spawn(FIREFOX, ['--headless', '--marionette', '--no-remote', '--profile', profile, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  const stop = async (): Promise<void> => {
    killGroup(child);
    await Promise.race([once(child, 'exit'), sleep(3000)]);
    await rm(profile, { recursive: true, force: true });
  };
  let port = 0;
  const deadline = Date.now() + 20_000;
  while (!port) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`Firefox did not open Marionette:\n${stderr}`);
    }
    try {
      port = Number(readFileSync(join(profile, 'MarionetteActivePort'), 'utf8'));
    } catch {
      await sleep(100);
    }
  }
  const m = await Marionette.connect(port);
  await m.command('WebDriver:NewSession', { capabilities: { alwaysMatch: { pageLoadStrategy: 'none' } } });
  await m.command('WebDriver:SetWindowRect', { width: 640, height: 480 });
  return {
    execute: async <T>(script: string, args: unknown[] = []) =>
      ((await m.command('WebDriver:ExecuteScript', { script, args })) as { value: T }).value,
    executeAsync: async <T>(script: string, args: unknown[] = [], timeoutMs = 30_000) => {
      await m.command('WebDriver:SetTimeouts', { script: timeoutMs });
      return ((await m.command('WebDriver:ExecuteAsyncScript', { script, args }, timeoutMs + 5000)) as { value: T }).value;
    },
    // WebDriver:Navigate does not return on a stream opened directly; a script that leaves the
    // page does, and the tab goes on loading.
    open: async (url: string) => {
      await m.command('WebDriver:Navigate', { url: 'about:blank' });
      await m.command('WebDriver:ExecuteScript', { script: 'setTimeout(() => { location.href = arguments[0]; }, 0);', args: [url] });
    },
    screenshot: async () => Buffer.from(((await m.command('WebDriver:TakeScreenshot', {})) as { value: string }).value, 'base64'),
    close: async () => {
      m.close();
      await stop();
    },
  };
}

/** A Marionette connection: messages are `LENGTH:JSON`; commands [0, id, name, params], replies [1, id, error, result]. */
class Marionette {
  private buf: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private hello: ((v: unknown) => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.failAll(e));
    socket.on('close', () => this.failAll(new Error('Marionette connection closed')));
  }

  static async connect(port: number): Promise<Marionette> {
    const socket = connect(port, '127.0.0.1');
    const m = new Marionette(socket);
    await new Promise((resolve, reject) => {
      m.hello = resolve;
      setTimeout(() => reject(new Error('no Marionette greeting within 10 s')), 10_000).unref();
    });
    return m;
  }

  command(name: string, params: Record<string, unknown>, timeoutMs = 15_000): Promise<unknown> {
    const id = this.nextId++;
    const text = JSON.stringify([0, id, name, params]);
    this.socket.write(`${Buffer.byteLength(text)}:${text}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`Marionette ${name}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const colon = this.buf.indexOf(':');
      if (colon < 0) return;
      const n = Number(this.buf.subarray(0, colon).toString('latin1'));
      if (this.buf.length < colon + 1 + n) return;
      const msg = JSON.parse(this.buf.subarray(colon + 1, colon + 1 + n).toString('utf8')) as unknown;
      this.buf = this.buf.subarray(colon + 1 + n);
      if (!Array.isArray(msg)) {
        this.hello?.(msg);
        this.hello = null;
        continue;
      }
      const [, id, error, result] = msg as [number, number, { error: string; message: string } | null, unknown];
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (error) p?.reject(new Error(`${error.error}: ${error.message}`));
      else p?.resolve(result);
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

// Requirements.

/** Why a client cannot run here (the Debian package to install), or undefined. */
export const clientMissing = {
  ffmpeg: missing({ 'ffmpeg (apt-get install ffmpeg)': hasCommand('ffmpeg') && hasCommand('ffprobe') }),
  gstreamer: missing({
    'gst-launch-1.0 with souphttpsrc, multipartdemux and jpegdec (gstreamer1.0-tools, -plugins-good, -plugins-base)':
      hasCommand('gst-inspect-1.0', ['souphttpsrc']) &&
      hasCommand('gst-inspect-1.0', ['multipartdemux']) &&
      hasCommand('gst-inspect-1.0', ['jpegdec']),
  }),
  vlc: missing({ 'cvlc (vlc-bin, vlc-plugin-base)': hasCommand(asNobody('cvlc', []).file, [...asNobody('cvlc', []).args, '--version']) }),
  mpv: missing({ 'mpv (apt-get install mpv)': hasCommand('mpv', ['--version']) }),
  python: missing({
    'python3-opencv, python3-requests, python3-aiohttp and python3-httpx': hasCommand(PYTHON, [
      '-c',
      'import cv2, requests, aiohttp, httpx',
    ]),
  }),
  curl: missing({ curl: hasCommand('curl', ['--version']) }),
  wget: missing({ wget: hasCommand('wget', ['--version']) }),
  firefox: missing({ 'firefox-esr': hasCommand(FIREFOX, ['--version']) }),
} as const;

// Results.

export const ARTIFACTS = new URL('test-artifacts/', REPO_ROOT);
export const RESULTS_FILE = fileURLToPath(new URL('clients.jsonl', ARTIFACTS));

export interface ResultLine extends Measures {
  /** When the run ended (ISO). */
  at: string;
  client: string;
  /** 'recommended' (the flags docs/clients.md gives) or 'default' (informational). */
  variant: 'recommended' | 'default';
  frontEnd: string;
  /** 'direct' or the proxy's name. */
  path: string;
  flags: string;
  pass: boolean;
  /** What failed, or a note (e.g. the error a client raised). */
  note: string;
}

/** Appends one result to test-artifacts/clients.jsonl. */
export function recordResult(line: Omit<ResultLine, 'at'>): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`);
}

/** The least steady rate that counts as the source's 30 fps (90 %): a client timing frames at 25 fps falls below. */
export const MIN_FPS = 27;

/** The usual expectations of a viewing client; returns what is wrong (empty: it passed). */
export function problems(
  m: Measures,
  { firstFrameMs = 3000, minFps = MIN_FPS }: { firstFrameMs?: number; minFps?: number } = {},
): string[] {
  const out: string[] = [];
  if (m.firstFrameMs === null) return ['no frame'];
  if (m.firstFrameMs > firstFrameMs) out.push(`first frame after ${m.firstFrameMs} ms (bound ${firstFrameMs})`);
  if (m.fps === null) out.push('too short to measure a rate');
  else if (m.fps < minFps) out.push(`${m.fps} fps (at least ${minFps} expected)`);
  if (m.maxGapMs !== null && m.maxGapMs > 1000) out.push(`a ${m.maxGapMs} ms gap between frames`);
  if (m.bad > 0) out.push(`${m.bad} bad frames or errors`);
  return out;
}

/** The last line of a client's output that looks like an error, for the table's note. */
export function errorNote(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const err = [...lines].reverse().find((l) => /error|exception|failed|refused/i.test(l));
  return (err ?? lines.at(-1) ?? '').slice(0, 160);
}

export interface Case {
  client: string;
  variant: 'recommended' | 'default';
  frontEnd: string;
  /** 'direct' or the proxy's name. */
  path: string;
  /** The flags that matter, as a user would type them ('' for none). */
  flags: string;
}

export interface Expect {
  firstFrameMs?: number;
  minFps?: number;
  /** Further problems the test found (checked as the others). */
  extra?: string[];
  /** Still images: no rate to measure. */
  still?: boolean;
}

/**
 * Measures `run`, appends the result line and, for the recommended variant, fails the test
 * with everything that is wrong. A default-flags run is informational: recorded, never failed.
 */
export function report(c: Case, run: ClientRun, expect: Expect = {}): Measures {
  const m = measure(run);
  let issues = expect.still
    ? m.firstFrameMs === null
      ? ['no image']
      : m.bad > 0
        ? [`${m.bad} bad images`]
        : m.firstFrameMs > (expect.firstFrameMs ?? 3000)
          ? [`first image after ${m.firstFrameMs} ms`]
          : []
    : problems(m, expect);
  issues = [...issues, ...(expect.extra ?? [])];
  const note = issues.length ? [...issues, ...run.bad.slice(0, 2), errorNote(run.output)].filter(Boolean).join('; ') : '';
  const line = { ...c, ...m, fps: expect.still ? null : m.fps, pass: issues.length === 0, note };
  recordResult(line);
  console.log(`client ${JSON.stringify({ ...line, output: undefined })}`);
  if (c.variant === 'recommended' && issues.length) {
    throw new Error(
      `${c.client} on ${c.frontEnd} (${c.path}): ${issues.join('; ')}\nbad: ${run.bad.slice(0, 5).join(' | ')}\noutput: ${run.output.slice(-1500)}`,
    );
  }
  return m;
}

export { killGroup };
