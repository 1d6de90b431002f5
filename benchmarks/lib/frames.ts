/**
 * The benchmark's frame sets: 90 JPEGs of a moving test pattern (ffmpeg's testsrc2: colour
 * bars, a moving gradient and a running counter) per resolution, encoded with the mjpeg
 * quantiser (`-q:v`) that brings the mean frame closest to a target size, so every server
 * sends the same bytes a typical camera would. Generated on first use and cached, with a
 * manifest, under benchmarks/.cache/frames/ (git-ignored); a cached set is reused only when its
 * manifest matches what would be generated now.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Resolution {
  /** "640x480" */
  name: string;
  width: number; // px
  height: number; // px
  /** Mean frame size to aim for. */
  targetBytes: number;
}

/** The two frame sets of the issue: about 21 KB (VGA) and 47 KB (720p) per frame. */
export const RESOLUTIONS: readonly Resolution[] = Object.freeze([
  { name: '640x480', width: 640, height: 480, targetBytes: 21_000 },
  { name: '1280x720', width: 1280, height: 720, targetBytes: 47_000 },
]);

export const FRAME_COUNT = 90; // 3 s at 30 fps, looped by every server
const RATE = 30; // the pattern's own frame rate: how far it moves between frames
const MANIFEST = 'frames.json';
const MANIFEST_VERSION = 1;
const FFMPEG_TIMEOUT_MS = 60_000;

export interface FrameSet {
  resolution: Resolution;
  dir: string;
  count: number;
  /** The mjpeg quantiser used (2 = best, 31 = worst). */
  q: number;
  meanBytes: number;
}

interface Manifest {
  version: number;
  width: number;
  height: number;
  count: number;
  targetBytes: number;
  q: number;
  meanBytes: number;
  generator: string;
}

/** Looks a resolution up by name ("640x480"); throws naming the known ones. */
export function resolutionByName(name: string): Resolution {
  const r = RESOLUTIONS.find((x) => x.name === name);
  if (!r) throw new Error(`unknown resolution ${name}: expected ${RESOLUTIONS.map((x) => x.name).join(', ')}`);
  return r;
}

/** The frame set for `resolution`, generated into `cacheDir` on first use. */
export function ensureFrames(resolution: Resolution, cacheDir: string, log: (line: string) => void = () => {}): FrameSet {
  const dir = join(cacheDir, resolution.name);
  const cached = readManifest(dir);
  if (
    cached &&
    cached.version === MANIFEST_VERSION &&
    cached.width === resolution.width &&
    cached.height === resolution.height &&
    cached.count === FRAME_COUNT &&
    cached.targetBytes === resolution.targetBytes &&
    jpegsIn(dir).length === FRAME_COUNT
  ) {
    return { resolution, dir, count: cached.count, q: cached.q, meanBytes: cached.meanBytes };
  }

  mkdirSync(cacheDir, { recursive: true });
  // Encode into a scratch folder and rename it into place, so an interrupted run never leaves
  // a half-written set that looks complete.
  const scratch = join(cacheDir, `.${resolution.name}.tmp-${process.pid}`);
  try {
    // The size falls as q rises; walk from q 5 in the direction that approaches the target
    // and stop when the error grows again (a handful of 1-2 s encodes).
    const tried = new Map<number, number>();
    const mean = (q: number): number => {
      let m = tried.get(q);
      if (m === undefined) {
        m = encode(resolution, q, scratch);
        tried.set(q, m);
        log(`frames ${resolution.name}: q ${q} gives ${(m / 1000).toFixed(1)} KB per frame`);
      }
      return m;
    };
    let q = 5;
    const step = mean(q) > resolution.targetBytes ? 1 : -1;
    while (q + step >= 2 && q + step <= 31) {
      const err = Math.abs(mean(q) - resolution.targetBytes);
      if (Math.abs(mean(q + step) - resolution.targetBytes) >= err) break;
      q += step;
    }
    const meanBytes = encode(resolution, q, scratch); // leave the chosen set in the folder
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      width: resolution.width,
      height: resolution.height,
      count: FRAME_COUNT,
      targetBytes: resolution.targetBytes,
      q,
      meanBytes: Math.round(meanBytes),
      generator: `ffmpeg -f lavfi -i testsrc2=size=${resolution.width}x${resolution.height}:rate=${RATE} -frames:v ${FRAME_COUNT} -q:v ${q}`,
    };
    writeFileSync(join(scratch, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(scratch, dir);
    log(`frames ${resolution.name}: ${FRAME_COUNT} frames at q ${q}, ${(meanBytes / 1000).toFixed(1)} KB per frame, in ${dir}`);
    return { resolution, dir, count: FRAME_COUNT, q, meanBytes: manifest.meanBytes };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Encodes the set at quantiser q into `dir` (emptied first); returns the mean frame size in bytes. */
function encode(resolution: Resolution, q: number, dir: string): number {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${resolution.width}x${resolution.height}:rate=${RATE}`,
    '-frames:v',
    String(FRAME_COUNT),
    '-pix_fmt',
    'yuvj420p',
    '-q:v',
    String(q),
    join(dir, 'frame-%03d.jpg'),
  ];
  const r = spawnSync('ffmpeg', args, { encoding: 'utf8', timeout: FFMPEG_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`ffmpeg could not run (${r.error.message}); install it (apt-get install ffmpeg)`);
  if (r.status !== 0) throw new Error(`ffmpeg exited with ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  const files = jpegsIn(dir);
  if (files.length !== FRAME_COUNT) throw new Error(`ffmpeg wrote ${files.length} frames, not ${FRAME_COUNT}, into ${dir}`);
  return files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0) / files.length;
}

function jpegsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f));
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}
