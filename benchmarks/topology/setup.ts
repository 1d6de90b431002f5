/**
 * The benchmark's hosts and what runs on them, built with test/helpers/topology.ts (network
 * namespaces on one bridge) as test/load/topology.test.ts builds its own:
 *
 *                  ┌─ nats1 ─┐              ┌────────────────┐
 *   capture ────── ├─ nats2 ─┤ ───────────▶ │ edge-nats      │  on another server than the publisher's
 *   (files, 30 fps,└─ nats3 ─┘ ───────────▶ │ edge-nats-same │  on the publisher's server
 *    --publish)  ── HTTP /video_feed ─────▶ │ edge-http      │
 *                                           └────────────────┘
 *   single: a plain framering on the same frames (the per-viewer reference)
 *   client: the viewer agent (test/helpers/viewer-agent.ts), for the latency part
 *
 * Every framering: --port 5000, --http-threads 1 (as the viewer benchmark, whatever the
 * machine), --idle-timeout 2 (so that a part leaves nothing running for the next one). The
 * capture node publishes with the whole server list, as docs/scaling.md says; each NATS edge is
 * given one server, so which path its frames take is known: edge-nats a server other than the
 * one the publisher connected to (a frame crosses two servers), edge-nats-same the publisher's
 * (one server). No HAProxy: the viewers are spread over the edges directly.
 */

import { join } from 'node:path';
import type { FrameSet } from '../lib/frames.js';
import {
  type Cleanup,
  createTopology,
  getJson,
  type Host,
  type HostProcess,
  type NatsServer,
  pollUntil,
  startNatsCluster,
  type Topology,
} from '../../test/helpers/topology.js';
import { ViewerAgent } from '../../test/helpers/viewer-agent.js';
import type { Measured } from './measure.js';

export const HTTP_PORT = 5000;
export const FPS = 30;
export const IDLE_TIMEOUT_S = 2;

/** A framering on its host. */
export interface Server {
  readonly host: Host;
  readonly proc: HostProcess;
}

export interface Bench {
  readonly topo: Topology;
  readonly frames: FrameSet;
  /** The frame files, in the order the camera plays them. */
  readonly frameFiles: readonly string[];
  readonly capture: Server;
  readonly edgeHttp: Server;
  /** The NATS edge on another server than the publisher's. */
  readonly edgeNats: Server;
  /** The NATS edge on the publisher's server. */
  readonly edgeNatsSame: Server;
  readonly single: Server;
  readonly nats: readonly NatsServer[];
  /** The server the capture node publishes to. */
  readonly publisherServer: NatsServer;
  readonly agent: ViewerAgent;
  /** When the last process was ready, performance.now() ms. */
  readonly readyAt: number;
  /** Every long-running process, by name, for CPU windows. */
  processes(): Measured[];
  /** The servers of the cluster that hold a client connection from `host` (/connz), one entry per connection. */
  natsServersOf(host: Host): Promise<string[]>;
}

/** A framering's /status, the fields read here. */
export interface Status {
  cameras: { name: string; state: string; viewers: number; fps: number; framesPublished: number }[];
  clientsTotal: number;
  publish?: { server: string | null; connected: boolean; cameras: { watched: boolean; framesPublished: number; framesSkipped: number }[] };
}

export const status = (host: Host): Promise<Status> => getJson<Status>(host.url(HTTP_PORT, '/status?clients=none'));

/** Builds the hosts and starts everything; cleanup is registered with `cleanup` before each piece. */
export async function setUp(
  cleanup: Cleanup,
  frames: FrameSet,
  frameNames: readonly string[],
  log: (line: string) => void,
): Promise<Bench> {
  const topo = await createTopology(cleanup, {
    hosts: ['capture', 'nats1', 'nats2', 'nats3', 'edge-http', 'edge-nats', 'edge-nats-same', 'single', 'client'],
  });
  log(`topology ${topo.tag} on ${topo.subnet}: ${[...topo.hosts.keys()].join(', ')}`);
  const nats = await startNatsCluster(
    cleanup,
    ['nats1', 'nats2', 'nats3'].map((n) => topo.host(n)),
  );
  const natsServersOf = async (host: Host): Promise<string[]> => {
    const per = await Promise.all(nats.map(async (s) => ({ s, conns: await s.connections() })));
    return per.flatMap(({ s, conns }) => conns.filter((c) => c.ip === host.addr).map(() => s.host.name));
  };
  const common = ['--host', '0.0.0.0', '--port', String(HTTP_PORT), '--http-threads', '1', '--idle-timeout', String(IDLE_TIMEOUT_S)];
  const files = ['--camera', 'files', '--source', frames.dir, '--fps', String(FPS)];
  const start = async (name: string, args: readonly string[]): Promise<Server> => {
    const host = topo.host(name);
    return { host, proc: await host.framering([...args, ...common]) };
  };

  const [capture, single, edgeHttp] = await Promise.all([
    start('capture', [...files, '--publish', nats.map((s) => s.url).join(',')]),
    start('single', files),
    start('edge-http', ['--camera', 'http', '--source', `http://capture:${HTTP_PORT}/video_feed`]),
  ]);
  // The publisher connects at start, whether or not anyone watches.
  const placed = await pollUntil(
    () => natsServersOf(capture.host),
    (s) => s.length === 1,
    10_000,
    200,
  );
  if (placed.ms === null)
    throw new Error(`the capture node holds no single NATS connection (${placed.value?.join(', ')}):\n${capture.proc.output()}`);
  const publisherServer = nats.find((s) => s.host.name === placed.value![0])!;
  const other = nats.find((s) => s !== publisherServer)!;
  const [edgeNats, edgeNatsSame] = await Promise.all([
    start('edge-nats', ['--camera', 'nats', '--source', other.url]),
    start('edge-nats-same', ['--camera', 'nats', '--source', publisherServer.url]),
  ]);
  const agent = await ViewerAgent.start(topo.host('client'));
  await agent.know(Object.fromEntries(frameNames.map((f) => [f, [join(frames.dir, f)]])));
  const readyAt = performance.now();
  log(
    `capture publishes to ${publisherServer.host.name}; edge-nats reads from ${other.host.name}, edge-nats-same from ${publisherServer.host.name}`,
  );

  const servers = { capture, 'edge-http': edgeHttp, 'edge-nats': edgeNats, 'edge-nats-same': edgeNatsSame, single };
  return {
    topo,
    frames,
    frameFiles: frameNames,
    capture,
    edgeHttp,
    edgeNats,
    edgeNatsSame,
    single,
    nats,
    publisherServer,
    agent,
    readyAt,
    processes: () => [
      ...Object.entries(servers).map(([name, s]) => ({ name, pid: s.proc.pid })),
      ...nats.map((s) => ({ name: s.host.name, pid: s.proc.pid })),
      { name: 'agent', pid: agent.proc.pid },
    ],
    natsServersOf,
  };
}

/** Polls until `check` holds for `host`'s /status; throws naming `what` after `timeoutMs`. */
export async function waitStatus(host: Host, check: (s: Status) => boolean, what: string, timeoutMs = 15_000): Promise<Status> {
  const r = await pollUntil(() => status(host), check, timeoutMs, 200);
  if (r.ms === null) throw new Error(`${host.name}: ${what} not reached within ${timeoutMs / 1000} s (${JSON.stringify(r.value)})`);
  return r.value!;
}

/** Resolves once capture and every edge's camera are idle (nothing left running from a part), at most `timeoutMs`. */
export async function waitAllIdle(b: Bench, timeoutMs = 15_000): Promise<boolean> {
  const hosts = [b.capture, b.edgeHttp, b.edgeNats, b.edgeNatsSame, b.single].map((s) => s.host);
  const r = await pollUntil(
    () => Promise.all(hosts.map(status)),
    (all) => all.every((s) => s.cameras[0]?.state === 'idle' && s.clientsTotal === 0),
    timeoutMs,
    250,
  );
  return r.ms !== null;
}
