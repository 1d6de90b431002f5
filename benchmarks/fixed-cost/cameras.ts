/**
 * The camera paths the fixed-cost benchmark measures, and the reference servers. Each starts
 * its processes on 127.0.0.1 and free ports (through lib/servers.ts, so every process is
 * bounded and killed on exit) and says which process is measured and which others run for it.
 *
 *   files        framering --camera files: the benchmark's frame set read from memory at 30 fps
 *   libcamera    framering --camera libcamera with test/fixtures' fake rpicam-vid on PATH,
 *                writing the same frames as an MJPEG stream at 30 fps
 *   http         framering --camera http relaying a second framering (files camera); only the
 *                relay is measured, the source is reported beside it
 *   synthetic    framering --camera synthetic 640x480 at 30 fps: a test pattern JPEG-encoded on
 *                the encoder pool (encoding is real work, not overhead)
 *   floor        the C floor server (native-bench/build/floor) on the same frames
 *   flask-gevent the original Flask + gevent design on the same frames
 *
 * framering is run with the probe (probe.ts) loaded into every thread, so its threads can be
 * grouped; one HTTP thread (--http-threads 1) and the uWebSockets.js front end, as in the
 * viewer benchmark.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FAKE_BIN } from '../../test/helpers/fake-camera.js';
import { REPO_ROOT, SERVERS, startServer, type RunningServer, type ServerSpec } from '../lib/servers.js';

export const CAMERA_NAMES = ['files', 'libcamera', 'http', 'synthetic', 'floor', 'flask-gevent'] as const;
export type CameraName = (typeof CAMERA_NAMES)[number];

const CLI = `${REPO_ROOT}dist/src/app/cli.js`;
const PROBE = `${REPO_ROOT}dist/benchmarks/fixed-cost/probe.js`;

/** A process that runs for the measured one and is reported beside it, not counted in it. */
export interface Companion {
  label: string;
  /** The pids to count now (a camera tool may be restarted). */
  pids(): number[];
}

export interface Setup {
  server: RunningServer;
  /** The probe's record of the measured server's threads; undefined for a server without it. */
  probeFile: string | undefined;
  /** Whether the server has framering's /metrics (frames published); otherwise the viewer's count is used. */
  metrics: boolean;
  companions: Companion[];
  stop(): Promise<void>;
}

export interface CameraSpec {
  name: CameraName;
  /** The table's first column. */
  label: string;
  /** A reference line rather than a framering camera path. */
  reference: boolean;
  /** What the reader must know about the figures. */
  note?: string;
  unavailable(): string | undefined;
  start(framesDir: string, fps: number, lifetimeMs: number): Promise<Setup>;
}

/**
 * framering with `cameraArgs`, started through /usr/bin/env so that the probe's variable (and
 * `extraEnv`) reach it; env execs node, so the pid is the server's.
 */
function framering(label: string, cameraArgs: string[], extraEnv: Record<string, string>, probe: boolean) {
  const base = SERVERS['framering-uws'];
  const dir = mkdtempSync(join(tmpdir(), 'framering-fixed-cost-'));
  const probeFile = probe ? join(dir, 'threads.jsonl') : undefined;
  const env = Object.entries({ ...extraEnv, ...(probeFile ? { FIXED_COST_TIDS: probeFile } : {}) }).map(([k, v]) => `${k}=${v}`);
  const spec: ServerSpec = {
    ...base,
    description: label,
    command: () => ({
      file: '/usr/bin/env',
      args: [
        ...env,
        process.execPath,
        ...(probe ? ['--import', PROBE] : []),
        CLI,
        ...cameraArgs,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--http',
        'uws',
        '--http-threads',
        '1',
        '--log-level',
        'info',
      ],
    }),
  };
  return { spec, probeFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function startFramering(
  label: string,
  cameraArgs: string[],
  lifetimeMs: number,
  extraEnv: Record<string, string> = {},
  probe = true,
): Promise<{ server: RunningServer; probeFile: string | undefined; cleanup: () => void }> {
  const f = framering(label, cameraArgs, extraEnv, probe);
  try {
    return { server: await startServer(f.spec, '', 0, lifetimeMs), probeFile: f.probeFile, cleanup: f.cleanup };
  } catch (e) {
    f.cleanup();
    throw e;
  }
}

const cliMissing = (): string | undefined => SERVERS['framering-uws'].unavailable();

function framesCamera(name: CameraName, label: string, args: (dir: string, fps: number) => string[], note?: string): CameraSpec {
  return {
    name,
    label,
    reference: false,
    ...(note ? { note } : {}),
    unavailable: cliMissing,
    async start(dir, fps, lifetimeMs) {
      const f = await startFramering(label, args(dir, fps), lifetimeMs);
      return {
        server: f.server,
        probeFile: f.probeFile,
        metrics: true,
        companions: [],
        stop: async () => {
          await f.server.child.stop(3000);
          f.cleanup();
        },
      };
    },
  };
}

/** The live children of `pid` (the camera tool), from /proc. */
export type ChildrenOf = (pid: number) => number[];

export function cameraSpecs(childrenOf: ChildrenOf): Readonly<Record<CameraName, CameraSpec>> {
  return {
    files: framesCamera('files', 'files', (dir, fps) => ['--camera', 'files', '--source', dir, '--fps', String(fps)]),
    libcamera: {
      name: 'libcamera',
      label: 'libcamera (fake rpicam-vid)',
      reference: false,
      note: "the fake rpicam-vid (test/fixtures/fake-camera-tool.mjs, a Node.js process) writes each frame in irregular chunks of 1 byte to 16 KB with an event-loop turn between them, so the capture worker reads a frame in several pieces; the real tool writes whole frames. Its own CPU is the tool's column, not counted",
      unavailable: cliMissing,
      async start(dir, fps, lifetimeMs) {
        const env = { PATH: `${FAKE_BIN['rpicam-vid']}:${dirname(process.execPath)}`, FAKE_CAMERA_FRAMES: dir };
        const f = await startFramering('libcamera', ['--camera', 'libcamera', '--fps', String(fps)], lifetimeMs, env);
        return {
          server: f.server,
          probeFile: f.probeFile,
          metrics: true,
          companions: [{ label: 'rpicam-vid (fake)', pids: () => childrenOf(f.server.child.pid) }],
          stop: async () => {
            await f.server.child.stop(3000);
            f.cleanup();
          },
        };
      },
    },
    http: {
      name: 'http',
      label: 'http relay',
      reference: false,
      note: 'the relay is measured; the source, a second framering (files camera) whose one viewer is the relay, is its column, not counted',
      unavailable: cliMissing,
      async start(dir, fps, lifetimeMs) {
        const source = await startFramering('source', ['--camera', 'files', '--source', dir, '--fps', String(fps)], lifetimeMs, {}, false);
        try {
          const url = `http://127.0.0.1:${source.server.port}/video_feed`;
          const relay = await startFramering('http relay', ['--camera', 'http', '--source', url], lifetimeMs);
          return {
            server: relay.server,
            probeFile: relay.probeFile,
            metrics: true,
            companions: [{ label: 'source framering', pids: () => [source.server.child.pid] }],
            stop: async () => {
              await relay.server.child.stop(3000);
              relay.cleanup();
              await source.server.child.stop(3000);
              source.cleanup();
            },
          };
        } catch (e) {
          await source.server.child.stop(1000);
          source.cleanup();
          throw e;
        }
      },
    },
    synthetic: framesCamera(
      'synthetic',
      'synthetic 640x480',
      (_dir, fps) => ['--camera', 'synthetic', '--width', '640', '--height', '480', '--fps', String(fps)],
      "the synthetic camera draws and JPEG-encodes every frame on its encoder threads (--encoders, default cores - 1): that is real work a camera that delivers JPEG does not need, not overhead. sharp runs its calls on libuv's threadpool, so part of the encoding shows under V8 / libuv helpers",
    ),
    floor: reference('floor', 'C floor (reference)', SERVERS.floor),
    'flask-gevent': reference('flask-gevent', 'Flask + gevent (reference)', SERVERS['flask-gevent']),
  };
}

function reference(name: CameraName, label: string, spec: ServerSpec): CameraSpec {
  return {
    name,
    label,
    reference: true,
    unavailable: () => spec.unavailable(),
    async start(dir, fps, lifetimeMs) {
      const server = await startServer(spec, dir, fps, lifetimeMs);
      return { server, probeFile: undefined, metrics: false, companions: [], stop: async () => void (await server.child.stop(3000)) };
    },
  };
}
