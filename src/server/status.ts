/** The /status document: cameras, viewers and the process, as operators read it. */

import type { Camera } from '../camera.js';
import type { Viewer } from './viewer.js';

export interface StatusSources {
  cameras: readonly Camera[];
  viewers: () => Iterable<Viewer>;
  frontEnd: () => string;
  version: string;
  startedAt: number; // Date.now()
  /** Viewers disconnected so far by the slow-client timeout. */
  slowClientsDisconnected: () => number;
}

export function cameraStatus(camera: Camera): Record<string, unknown> {
  const { fps, width, height } = camera.ring.sourceInfo();
  return {
    name: camera.name,
    driver: camera.driver,
    state: camera.state,
    lastError: camera.lastError && { message: camera.lastError.message, at: camera.lastError.at.toISOString() },
    resolution: width > 0 ? { width, height } : null,
    fps: Math.round(fps * 100) / 100,
    viewers: camera.feed.subscriberCount,
    framesPublished: camera.ring.published(),
    framesDropped: {
      oversize: camera.ring.dropped('oversize'),
      encoderBusy: camera.ring.dropped('encoder-busy'),
      corrupt: camera.ring.dropped('corrupt'),
    },
  };
}

export function viewerStatus(v: Viewer, now = performance.now()): Record<string, unknown> {
  return {
    id: v.id,
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
  const now = performance.now();
  return {
    version: s.version,
    frontEnd: s.frontEnd(),
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 100) / 10,
    cameras: s.cameras.map(cameraStatus),
    slowClientsDisconnected: s.slowClientsDisconnected(),
    clients: [...s.viewers()].map((v) => viewerStatus(v, now)),
  };
}
