/** Waiting in tests: for a condition that has no event to await, or (rarely) for time to pass. */

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once `condition()` holds, checking it every few milliseconds; rejects after
 * `timeoutMs` naming `what`. For in-process state that has no event to await (a front end's
 * viewer set, a camera counter).
 */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Waits on state that changes with events the caller sees (log lines, requests): call notify()
 * on each event; until() runs `check` then, and resolves with its first defined value.
 */
export class Waiters {
  private readonly waiting = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiting]) w();
  }

  until<T>(check: () => T | undefined, what: string, timeoutMs: number, describe: () => string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const poll = (): void => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiting.delete(poll);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiting.delete(poll);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${describe()})`));
      }, timeoutMs);
      this.waiting.add(poll);
    });
  }
}

/** `p`'s value, or null if it takes longer than `ms`. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
