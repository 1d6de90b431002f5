/**
 * The servers under test, each started as its own process on 127.0.0.1 and a free port,
 * serving the same frame folder at the same rate:
 *
 *   floor           native-bench/build/floor: C, epoll, frames in memory, one writev per
 *                   client per frame; the least work any MJPEG server can do
 *   framering-uws   framering, files camera, uWebSockets.js front end (the default), one
 *                   HTTP thread (--http-threads 1)
 *   framering-uws-2t  the same with two HTTP threads on the port (--http-threads 2)
 *   framering-uws-chunked  framering-uws asked as a player or a tool asks (chunked body)
 *   framering-node  framering, files camera, node:http front end (--http node)
 *   flask-gevent    the original Flask design on gevent (benchmarks/flask-gevent/app.py)
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findUws } from '../../src/server/uws/binary.js';
import { spawnBounded, type Child } from './processes.js';

/** The repository root (this file runs from dist/benchmarks/lib/). */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const NATIVE_BUILD = `${REPO_ROOT}native-bench/build`;
const CLI = `${REPO_ROOT}dist/src/app/cli.js`;
const FLASK_APP = `${REPO_ROOT}benchmarks/flask-gevent/app.py`;
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-flask and python3-gevent
const START_TIMEOUT_MS = 15_000;

export const SERVER_NAMES = [
  'floor',
  'framering-uws',
  'framering-uws-2t',
  'framering-uws-chunked',
  'framering-node',
  'flask-gevent',
] as const;

/** What a browser's <img> element sends that matters to framering (it chooses the body framing by it). */
export const BROWSER_IMAGE_HEADERS: readonly string[] = ['Sec-Fetch-Dest: image'];
export type ServerName = (typeof SERVER_NAMES)[number];

export interface ServerSpec {
  name: ServerName;
  /** One line for the report. */
  description: string;
  /** Most clients it is run with (undefined: no cap); the reason goes in the report. */
  maxClients?: number;
  capReason?: string;
  /** The only client counts it is run at (undefined: all); the reason goes in the report. */
  onlyClients?: readonly number[];
  onlyReason?: string;
  /** Why it cannot run on this machine, or undefined. */
  unavailable(): string | undefined;
  command(framesDir: string, fps: number): { file: string; args: string[] };
  /**
   * Request headers loadgen sends (default BROWSER_IMAGE_HEADERS: every server is asked as a
   * browser's <img> asks, the client that comes by the hundred).
   */
  requestHeaders?: readonly string[];
  /** The port once the output says it listens; throws if it listens the wrong way. */
  port(stdout: string, stderr: string): number | undefined;
}

const framering = (name: ServerName, http: 'uws' | 'node', banner: string, threads = 1): ServerSpec => ({
  name,
  description: `framering, files camera, ${banner} front end${http === 'node' ? ' (`--http node`)' : ''}, ${threads} HTTP thread${threads > 1 ? 's' : ''}`,
  unavailable: () => {
    if (!existsSync(CLI)) return `${CLI} is missing (npm run build)`;
    // The server runs on this Node.js: skip the uWS runs where no uWebSockets.js build loads.
    if (http === 'uws') {
      const uws = findUws();
      if (uws.picked === null) return uws.summary;
    }
    return undefined;
  },
  command: (dir, fps) => ({
    file: process.execPath,
    args: [
      CLI,
      '--camera',
      'files',
      '--source',
      dir,
      '--fps',
      String(fps),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--http',
      http,
      '--http-threads',
      String(threads),
      '--log-level',
      'info',
    ],
  }),
  port: (_stdout, stderr) => {
    const m = /(\S+) front end listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
    if (!m) return undefined;
    // framering falls back to node:http, with a warning, where uWebSockets.js cannot load:
    // never report that as a uWS measurement.
    if (!stderr.includes(`${banner} front end listening`))
      throw new Error(`${name} started the ${m[1]} front end, not ${banner}:\n${stderr}`);
    if (threads > 1 && !stderr.includes(`serving HTTP from ${threads} threads`)) return undefined; // not all threads listen yet
    return Number(m[2]);
  },
});

const listeningLine = (stdout: string): number | undefined => {
  const m = /^listening (\d+)$/m.exec(stdout);
  return m ? Number(m[1]) : undefined;
};

export const SERVERS: Readonly<Record<ServerName, ServerSpec>> = Object.freeze({
  floor: {
    name: 'floor',
    description: 'C floor server (native-bench/floor.c): epoll, frames in memory, one writev per client per frame',
    unavailable: () => (existsSync(`${NATIVE_BUILD}/floor`) ? undefined : `${NATIVE_BUILD}/floor is missing (make -C native-bench)`),
    command: (dir, fps) => ({
      file: `${NATIVE_BUILD}/floor`,
      args: ['--frames', dir, '--fps', String(fps), '--host', '127.0.0.1', '--port', '0'],
    }),
    port: listeningLine,
  },
  'framering-uws': framering('framering-uws', 'uws', 'uWebSockets.js'),
  'framering-uws-2t': {
    ...framering('framering-uws-2t', 'uws', 'uWebSockets.js', 2),
    onlyClients: [1000, 2000],
    onlyReason: 'a second HTTP thread matters only where one thread is busy',
  },
  'framering-uws-chunked': {
    ...framering('framering-uws-chunked', 'uws', 'uWebSockets.js'),
    description: 'framering-uws asked as a player or tool asks (no Sec-Fetch-Dest): chunked body, one write per 15 KB piece',
    requestHeaders: [],
    onlyClients: [1, 10, 100, 500],
    onlyReason: 'players and tools, not hundreds of browsers, read the chunked body',
  },
  'framering-node': framering('framering-node', 'node', 'node:http'),
  'flask-gevent': {
    name: 'flask-gevent',
    description: 'the original Flask design on gevent (benchmarks/flask-gevent/app.py), Debian python3-flask and python3-gevent',
    maxClients: 500,
    capReason:
      'one Python thread serves every client, and above about 1000 clients it falls behind 30 fps on a saturated core (see the README); --flask-max N runs it further',
    unavailable: () => {
      const r = spawnSync(PYTHON, ['-c', 'import flask, gevent'], { stdio: 'ignore', timeout: 20_000 });
      return r.status === 0 ? undefined : `${PYTHON} cannot import flask and gevent (apt-get install python3-flask python3-gevent)`;
    },
    command: (dir, fps) => ({
      file: PYTHON,
      args: [FLASK_APP, '--frames', dir, '--fps', String(fps), '--host', '127.0.0.1', '--port', '0'],
    }),
    port: listeningLine,
  },
});

export interface RunningServer {
  spec: ServerSpec;
  child: Child;
  port: number;
}

/**
 * Starts `spec` on a free port of 127.0.0.1 and resolves once it listens. The process is
 * SIGKILLed after `lifetimeMs` whatever happens; the caller stops it earlier in a finally.
 */
export async function startServer(
  spec: ServerSpec,
  framesDir: string,
  fps: number,
  lifetimeMs: number,
  nodeFlags: readonly string[] = [],
): Promise<RunningServer> {
  const command = spec.command(framesDir, fps);
  const { file } = command;
  // node's own flags go before the script, and only to a node process
  const args = file === process.execPath ? [...nodeFlags, ...command.args] : command.args;
  // framering's own variables from the caller's environment would change what is measured
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FRAMERING_') || k === 'CAMERA') delete env[k];
  const child = spawnBounded(file, args, lifetimeMs, env, 'server');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${spec.name} did not listen within ${START_TIMEOUT_MS / 1000} s:\n${child.stderr()}`)),
        START_TIMEOUT_MS,
      );
      const check = (): void => {
        try {
          const p = spec.port(child.stdout(), child.stderr());
          if (p !== undefined) {
            clearTimeout(timer);
            resolve(p);
          }
        } catch (e) {
          clearTimeout(timer);
          reject(e as Error);
        }
      };
      child.process.stdout!.on('data', check);
      child.process.stderr!.on('data', check);
      void child.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited (${exit.status ?? exit.signal}) before listening:\n${child.stderr()}`));
      });
    });
    return { spec, child, port };
  } catch (e) {
    await child.stop(1000);
    throw e;
  }
}
