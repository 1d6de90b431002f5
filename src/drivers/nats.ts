/**
 * Frames from a NATS subject, published by another framering (`--publish`): an edge for a camera
 * that sits behind NAT or on another site. `--camera nats --source nats://HOST[:PORT][,...]`,
 * subject `framering.CAMERA` unless `--subject` (or `subject=` per camera) says otherwise.
 *
 * One connection per capture session, so an edge without viewers holds none. While the session
 * runs the edge says it is watching (nats-link.ts) and holds EDGE_CREDITS one-message
 * subscriptions in a queue group of its own: each frame the server delivers uses one up, and one is
 * renewed as it arrives. The server thus never queues more than EDGE_CREDITS frames for this edge,
 * however slow its link; frames it cannot take are dropped at the server, and the edge always gets
 * the newest one next. Frames go to a one-frame slot the generator empties (newest wins), as in the
 * http driver.
 *
 * The client reconnects by itself to any server of the cluster (the connection outlives a server);
 * a connection that cannot be made, or one the client gave up, fails the session, which the
 * capture loop logs and retries with backoff.
 */

import { connect, type NatsConnection, nuid, type Subscription } from '@nats-io/transport-node';
import { describeError, FrameringError } from '../core/errors.js';
import {
  cameraSubject,
  EDGE_CREDITS,
  NO_NATS_ACCESS,
  natsConnectionOptions,
  natsErrorText,
  parseNatsServers,
  WATCH_INTERVAL_MS,
  watchingSubject,
} from './nats-link.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

export const supports: DriverModule['supports'] = ['source', 'subject'];

/** Without a frame this long, the edge drops its subscriptions and takes fresh ones (a lost credit). */
const RENEW_AFTER_MS = 5000;

export function validate(options: DriverOptions): void {
  parseNatsServers(options.source, '--source');
  cameraSubject('camera', options.subject, 'subject');
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  const servers = parseNatsServers(options.source, '--source');
  // The capture worker fills in the subject from the camera's name (cameras.ts).
  const subject = cameraSubject('camera', options.subject, 'subject');
  const access = context.nats ?? NO_NATS_ACCESS;
  return {
    async *frames(signal) {
      let nc: NatsConnection;
      try {
        nc = await connect(await natsConnectionOptions(servers, access, 'framering edge'));
      } catch (err) {
        throw new NatsSourceError(`cannot connect to NATS ${servers.display}: ${natsErrorText(err)}`);
      }
      const session = new EdgeSession(nc, subject, context, signal);
      context.log('info', `subscribed to ${subject} on NATS ${servers.display} (${nc.getServer()})`);
      try {
        for (;;) {
          const frame = await session.next();
          if (frame === null) return;
          yield frame;
        }
      } finally {
        await session.close();
      }
    },
  };
}

/** Why the NATS source gave no (more) frames: one line, thrown from frames(). */
export class NatsSourceError extends FrameringError {
  constructor(message: string) {
    super('ERR_FRAMERING_NATS', message);
    this.name = 'NatsSourceError';
  }
}

/** One capture session's subscriptions, interest messages and newest frame. */
class EdgeSession {
  private latest: Uint8Array | null = null;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly credits = new Set<Subscription>();
  /** A queue group of this session alone: each frame goes to one of its credits, not to each. */
  private readonly queue = `framering-edge-${nuid.next()}`;
  private readonly watching: string;
  private readonly ticker: NodeJS.Timeout;
  private lastFrameAt = performance.now();
  private closed = false;
  private readonly onAbort = (): void => this.wakeUp();
  private readonly onMessage = (err: Error | null, msg: { data: Uint8Array }): void => {
    if (this.closed) return;
    if (err === null) {
      this.latest = msg.data; // newest wins: an unread older frame is dropped
      this.lastFrameAt = performance.now();
      this.wakeUp();
    }
    this.addCredit();
  };

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly context: DriverContext,
    private readonly signal: AbortSignal,
  ) {
    this.watching = watchingSubject(subject);
    signal.addEventListener('abort', this.onAbort, { once: true });
    for (let i = 0; i < EDGE_CREDITS; i++) this.addCredit();
    this.announce();
    this.ticker = setInterval(() => this.tick(), WATCH_INTERVAL_MS);
    void this.watchStatus();
    nc.closed().then(
      (err) => this.fail(`NATS connection closed${err ? `: ${natsErrorText(err)}` : ''}`),
      (err: unknown) => this.fail(`NATS connection closed: ${describeError(err)}`),
    );
  }

  /** The next frame: at once if one is waiting, else when one arrives. Null once aborted. */
  async next(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.signal.aborted) return null;
      const frame = this.latest;
      if (frame !== null) {
        this.latest = null;
        return frame;
      }
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    this.signal.removeEventListener('abort', this.onAbort);
    this.credits.clear();
    await this.nc.close().catch(() => {});
  }

  private addCredit(): void {
    if (this.closed || this.nc.isClosed()) return;
    // Credits used up (one message each) are closed: forget them.
    for (const sub of this.credits) if (sub.isClosed()) this.credits.delete(sub);
    try {
      this.credits.add(this.nc.subscribe(this.subject, { queue: this.queue, max: 1, callback: this.onMessage }));
    } catch (err) {
      this.fail(`cannot subscribe to ${this.subject}: ${natsErrorText(err)}`);
    }
  }

  private announce(): void {
    try {
      this.nc.publish(this.watching);
    } catch {
      // Closed or draining: the status watcher reports why.
    }
  }

  private tick(): void {
    this.announce();
    // A credit whose frame never came (a server restarted between delivering and forgetting it):
    // start over with fresh ones rather than wait for a frame that cannot arrive.
    if (performance.now() - this.lastFrameAt > RENEW_AFTER_MS) {
      for (const sub of this.credits) sub.unsubscribe();
      this.credits.clear();
      for (let i = 0; i < EDGE_CREDITS; i++) this.addCredit();
      this.lastFrameAt = performance.now();
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === 'disconnect') this.context.log('warn', `lost NATS server ${s.server}; reconnecting`);
      else if (s.type === 'reconnect') {
        this.context.log('info', `reconnected to NATS server ${s.server}`);
        this.announce();
      } else if (s.type === 'error') this.context.log('warn', `NATS: ${natsErrorText(s.error)}`);
    }
  }

  private fail(message: string): void {
    if (this.closed || this.failure !== null) return;
    this.failure = new NatsSourceError(message);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
