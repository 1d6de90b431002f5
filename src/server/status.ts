/** The /status document: cameras, viewers and the process, as operators read it. */

import type { CameraView } from '../stream/camera-view.js';
import type { MetricsJson } from './metrics.js';
import type { Viewer } from '../stream/viewer.js';

/** What one HTTP thread reports when /status or /metrics is asked for (structured-clone safe). */
export interface ThreadStats {
  thread: number;
  clients: ViewerStatus[];
  slowClientsDisconnected: number;
  metrics: MetricsJson;
}

export interface ViewerStatus {
  id: number;
  thread: number;
  camera: string;
  remoteAddress: string;
  path: string;
  maxFps: number | null;
  deliveredFps: number;
  framesSent: number;
  framesSkipped: number;
  framesRepeated: number;
  bytesSent: number;
  connectedSince: string;
}

export interface StatusSources {
  cameras: readonly CameraView[];
  threads: readonly ThreadStats[];
  frontEnd: string;
  version: string;
  startedAt: number; // Date.now()
  /** The NATS publisher's state (--publish), or undefined. */
  publish?: Record<string, unknown> | undefined;
}

export function cameraStatus(camera: CameraView, viewers: number): Record<string, unknown> {
  const { fps, width, height } = camera.stats.sourceInfo();
  return {
    name: camera.name,
    driver: camera.driver,
    state: camera.state,
    lastError: camera.lastError && { message: camera.lastError.message, at: camera.lastError.at.toISOString() },
    resolution: width > 0 ? { width, height } : null,
    fps: Math.round(fps * 100) / 100,
    viewers,
    framesPublished: camera.stats.published(),
    framesDropped: {
      oversize: camera.stats.dropped('oversize'),
      encoderBusy: camera.stats.dropped('encoder-busy'),
      corrupt: camera.stats.dropped('corrupt'),
    },
  };
}

export function viewerStatus(v: Viewer, thread: number, now = performance.now()): ViewerStatus {
  return {
    id: v.id,
    thread,
    camera: v.info.camera,
    remoteAddress: v.info.remoteAddress,
    path: v.info.path,
    maxFps: v.info.maxFps || null,
    deliveredFps: Math.round(v.deliveredFps(now) * 100) / 100,
    framesSent: v.framesSent,
    framesSkipped: v.framesSkipped,
    framesRepeated: v.framesRepeated,
    bytesSent: v.bytesSent,
    connectedSince: new Date(v.connectedAt).toISOString(),
  };
}

export function buildStatus(s: StatusSources): Record<string, unknown> {
  const clients = s.threads.flatMap((t) => t.clients);
  const perCamera = new Map<string, number>();
  for (const c of clients) perCamera.set(c.camera, (perCamera.get(c.camera) ?? 0) + 1);
  return {
    version: s.version,
    frontEnd: s.frontEnd,
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 100) / 10,
    cameras: s.cameras.map((c) => cameraStatus(c, perCamera.get(c.name) ?? 0)),
    slowClientsDisconnected: s.threads.reduce((n, t) => n + t.slowClientsDisconnected, 0),
    httpThreads: s.threads.map((t) => ({
      thread: t.thread,
      clients: t.clients.length,
      slowClientsDisconnected: t.slowClientsDisconnected,
    })),
    ...(s.publish ? { publish: s.publish } : {}),
    clients,
  };
}
