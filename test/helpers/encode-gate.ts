/**
 * The test side of fixtures/gated-encode.ts: waits until a frame has started or finished encoding
 * in an encoder thread, and releases frames one by one. A frame is named by its width.
 */

export const ENCODE_GATE_CHANNEL = 'framering-test-encode-gate';
export const GATED_ENCODER_URL = new URL('../fixtures/gated-encode.js', import.meta.url);

export type GateMessage = { started: number } | { encoded: number } | { release: number };

export class EncodeGate {
  private readonly channel = new BroadcastChannel(ENCODE_GATE_CHANNEL);
  private readonly started = new Set<number>();
  private readonly encoded = new Set<number>();
  private readonly waiters = new Set<() => void>();

  constructor() {
    this.channel.onmessage = (event: MessageEvent) => {
      const m = event.data as GateMessage;
      if ('started' in m) this.started.add(m.started);
      else if ('encoded' in m) this.encoded.add(m.encoded);
      for (const w of [...this.waiters]) w();
    };
  }

  /** Lets frame `id` encode. Send it only after whenStarted(id): a thread that is still starting would miss it. */
  release(id: number): void {
    this.channel.postMessage({ release: id } satisfies GateMessage);
  }

  whenStarted(id: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.started.has(id), `frame ${id} to start encoding`, timeoutMs);
  }

  whenEncoded(id: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.encoded.has(id), `frame ${id} to be encoded`, timeoutMs);
  }

  hasStarted(id: number): boolean {
    return this.started.has(id);
  }

  close(): void {
    this.channel.close();
  }

  private until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }
}
