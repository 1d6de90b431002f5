/**
 * `--publish nats://...`: a capture node sends its cameras' frames to NATS, for edges elsewhere
 * (`--camera nats`, src/drivers/nats.ts) that the internet can reach when this machine cannot.
 *
 * One outbound connection per process, in the main thread. Each camera is one more reader of its
 * ring: while an edge says it is watching the camera's subject (a `SUBJECT.watching` message less
 * than WATCH_TTL_MS old), the publisher subscribes to the camera's frame feed like a viewer, which
 * is one unit of DEMAND, so capture runs; when the edges fall silent it unsubscribes and capture
 * stops after --idle-timeout, as for viewers.
 *
 * Each frame is one message, the JPEG alone, published from the feed's part buffer without a
 * copy (the client queues a reference and writes it out in the same microtask checkpoint; the
 * frame is held until the server confirms it). At most PUBLISH_WINDOW frames may be unconfirmed: a
 * PING follows each, and frames are skipped while the window is full, so a slow uplink gets fewer,
 * newer frames instead of a queue of old ones. While disconnected nothing is published (the client
 * would keep it for after the reconnect). A frame larger than the server's max_payload is refused
 * and logged once, naming the limit: NATS cannot carry it, and a truncated JPEG is no frame.
 */

import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../core/log.js';
import {
  natsConnectionOptions,
  natsErrorText,
  type NatsAccess,
  type NatsServers,
  PUBLISH_WINDOW,
  WATCH_TTL_MS,
  watchingSubject,
} from '../drivers/nats-link.js';
import type { Frame, FrameFeed, FrameSubscriber } from './frame-feed.js';

/** What a published camera needs: its name, its subject and the main thread's feed of its ring. */
export interface PublishedCamera {
  readonly name: string;
  readonly subject: string;
  readonly feed: FrameFeed;
}

/** Backoff between attempts to make the first connection (the client reconnects by itself after). */
const FIRST_CONNECT_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000] as const;

/** One camera's publishing state and counters (shown in /status). */
class CameraPublisher implements FrameSubscriber {
  /** Edges are watching: the feed subscription (and so capture) is held. */
  watched = false;
  published = 0;
  /** Frames skipped because PUBLISH_WINDOW frames were still unconfirmed (a slow uplink). */
  skippedBehind = 0;
  /** Frames refused because they exceed the server's max_payload. */
  refusedTooLarge = 0;
  private inFlight = 0;
  private lapse: NodeJS.Timeout | null = null;
  private tooLargeLogged = false;
  private watchSub: Subscription | null = null;

  constructor(
    readonly camera: PublishedCamera,
    private readonly owner: NatsPublisher,
  ) {}

  /** Listens for edges' interest on a (new) connection. */
  listen(nc: NatsConnection): void {
    this.watchSub = nc.subscribe(watchingSubject(this.camera.subject), { callback: () => this.interest() });
  }

  /** An edge is watching: hold the feed (capture runs) for WATCH_TTL_MS more. */
  private interest(): void {
    if (this.lapse !== null) this.lapse.refresh();
    else this.lapse = setTimeout(() => this.unwatch(), WATCH_TTL_MS);
    if (!this.watched) {
      this.watched = true;
      this.owner.log.info(`camera ${this.camera.name}: an edge is watching; publishing on ${this.camera.subject}`);
      // The current frame, if capture already runs, goes out at once.
      const current = this.camera.feed.subscribe(this);
      if (current !== null) this.onFrame(current);
    }
  }

  unwatch(): void {
    if (this.lapse !== null) clearTimeout(this.lapse);
    this.lapse = null;
    if (!this.watched) return;
    this.watched = false;
    this.camera.feed.unsubscribe(this);
    this.owner.log.info(`camera ${this.camera.name}: no edge watching; stopped publishing`);
  }

  close(): void {
    this.unwatch();
    this.watchSub?.unsubscribe();
    this.watchSub = null;
  }

  onFrame(frame: Frame): void {
    const nc = this.owner.connection();
    if (nc === null) return;
    const maxPayload = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (frame.jpeg.length > maxPayload) {
      this.refusedTooLarge++;
      if (!this.tooLargeLogged) {
        this.tooLargeLogged = true;
        this.owner.log.error(
          `camera ${this.camera.name}: frame of ${frame.jpeg.length} bytes not published: larger than the NATS server's max_payload of ${maxPayload} bytes; raise max_payload in nats-server's configuration (e.g. max_payload: 8MB) or make the frames smaller (--quality, --width)`,
        );
      }
      return;
    }
    this.tooLargeLogged = false;
    if (this.inFlight >= PUBLISH_WINDOW) {
      this.skippedBehind++;
      return;
    }
    try {
      nc.publish(this.camera.subject, frame.jpeg);
    } catch (err) {
      this.owner.log.warn(`camera ${this.camera.name}: cannot publish on ${this.camera.subject}: ${natsErrorText(err)}`);
      return;
    }
    this.published++;
    this.inFlight++;
    frame.retain();
    const done = (): void => {
      this.inFlight--;
      frame.release();
    };
    nc.flush().then(done, done);
  }

  status(): Record<string, unknown> {
    return {
      camera: this.camera.name,
      subject: this.camera.subject,
      watched: this.watched,
      framesPublished: this.published,
      framesSkipped: this.skippedBehind,
      framesTooLarge: this.refusedTooLarge,
    };
  }
}

export class NatsPublisher {
  private nc: NatsConnection | null = null;
  private connected = false;
  private closed = false;
  private readonly cameras: CameraPublisher[];
  private readonly started: Promise<void>;
  private retry: NodeJS.Timeout | null = null;
  private wakeRetry: (() => void) | null = null;

  constructor(
    private readonly servers: NatsServers,
    private readonly access: NatsAccess,
    cameras: readonly PublishedCamera[],
    readonly log: Logger,
  ) {
    this.cameras = cameras.map((c) => new CameraPublisher(c, this));
    this.started = this.connectLoop();
  }

  /** The connection while it is up, else null (nothing is published then). */
  connection(): NatsConnection | null {
    return this.connected ? this.nc : null;
  }

  status(): Record<string, unknown> {
    return {
      servers: this.servers.display,
      connected: this.connected,
      server: this.connected ? (this.nc?.getServer() ?? null) : null,
      cameras: this.cameras.map((c) => c.status()),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.wakeRetry?.();
    for (const c of this.cameras) c.close();
    await this.started;
    await this.nc?.close().catch(() => {});
  }

  /** Makes the first connection, retrying with backoff; the client then keeps it up by itself. */
  private async connectLoop(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const nc = await connect(await natsConnectionOptions(this.servers, this.access, 'framering publisher'));
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.connected = true;
        for (const c of this.cameras) c.listen(nc);
        this.log.info(`publishing to NATS ${this.servers.display} (connected to ${nc.getServer()})`);
        void this.watchStatus(nc);
        return;
      } catch (err) {
        if (attempt === 0 || attempt % 10 === 0) {
          this.log.warn(`cannot connect to NATS ${this.servers.display}: ${natsErrorText(err)}; retrying`);
        }
        const delay = FIRST_CONNECT_BACKOFF_MS[Math.min(attempt, FIRST_CONNECT_BACKOFF_MS.length - 1)]!;
        await new Promise<void>((resolve) => {
          this.wakeRetry = resolve;
          this.retry = setTimeout(resolve, delay);
        });
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    void nc.closed().then((err) => {
      this.connected = false;
      if (this.closed) return;
      this.log.error(`NATS connection closed${err ? `: ${natsErrorText(err)}` : ''}; no longer publishing`);
      for (const c of this.cameras) c.unwatch();
    });
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        if (!this.closed) this.log.warn(`lost NATS server ${s.server}; reconnecting`);
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.log.info(`reconnected to NATS server ${s.server}`);
      } else if (s.type === 'error') {
        this.log.warn(`NATS: ${natsErrorText(s.error)}`);
      }
    }
  }
}
