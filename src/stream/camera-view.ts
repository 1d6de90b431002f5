/**
 * What the HTTP side needs of a camera, in whichever thread it runs: the camera's shared frame
 * ring, this thread's feed of it, and the capture state. In the main thread that is the Camera
 * itself; in an HTTP worker thread it is a RemoteCamera over the same SharedArrayBuffer.
 */

import { FrameFeed } from './frame-feed.js';
import { CaptureControl, type CaptureStateName } from '../core/capture-control.js';
import { FrameRing } from '../core/ring.js';
import { RingStats } from '../core/ring-stats.js';

export interface CameraError {
  message: string;
  at: Date;
}

export interface CameraView {
  readonly name: string;
  readonly driver: string;
  readonly ring: FrameRing;
  /** The capture worker's counters in the same shared buffer. */
  readonly stats: RingStats;
  /** This thread's reader of the ring, fanning frames out to this thread's viewers. */
  readonly feed: FrameFeed;
  readonly state: CaptureStateName;
  /** The last capture error, kept after recovery for status pages. */
  readonly lastError: CameraError | null;
}

/** How a camera is described to an HTTP worker thread (structured-clone safe). */
export interface CameraDescriptor {
  name: string;
  driver: string;
  ring: SharedArrayBuffer;
}

/**
 * A camera as an HTTP worker thread sees it. The capture state is read from the ring's header
 * (written by the capture worker); the last error, a string the ring has no room for, is
 * forwarded by the main thread.
 */
export class RemoteCamera implements CameraView {
  readonly name: string;
  readonly driver: string;
  readonly ring: FrameRing;
  readonly stats: RingStats;
  readonly feed: FrameFeed;
  private readonly control: CaptureControl;
  lastError: CameraError | null = null;

  constructor(d: CameraDescriptor) {
    this.name = d.name;
    this.driver = d.driver;
    this.ring = new FrameRing(d.ring);
    this.stats = new RingStats(d.ring);
    this.control = new CaptureControl(d.ring);
    this.feed = new FrameFeed(this.ring);
  }

  get state(): CaptureStateName {
    return this.control.state();
  }
}
