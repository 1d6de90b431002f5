/**
 * Admission of stream viewers under --max-clients, across every HTTP thread. The count lives in a
 * SharedArrayBuffer so that the limit holds for the whole process however viewers spread over
 * threads. A viewer is admitted by an atomic add that is undone if it went over the limit, so two
 * threads admitting at once can never both take the last place. An admitted viewer holds a lease
 * and gives its place back by releasing it, once, however its stream ends.
 */

/** A place taken by one viewer. `release()` gives it back; calling it again does nothing. */
export interface Lease {
  release(): void;
}

export class Admission {
  private readonly count: Int32Array;

  /**
   * @param max most viewers at once; 0 = no limit
   * @param buffer the shared count (every HTTP thread passes the same one)
   */
  constructor(
    readonly max: number,
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4),
  ) {
    this.count = new Int32Array(buffer, 0, 1);
  }

  /** Takes a place for one viewer, or null (and nothing taken) if `max` are already in. */
  tryAdmit(): Lease | null {
    const before = Atomics.add(this.count, 0, 1);
    if (this.max > 0 && before >= this.max) {
      Atomics.sub(this.count, 0, 1);
      return null;
    }
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        Atomics.sub(this.count, 0, 1);
      },
    };
  }

  /** True if a viewer would be refused now (HEAD asks without taking a place). */
  get full(): boolean {
    return this.max > 0 && this.admitted >= this.max;
  }

  /** Viewers admitted now, over every thread. */
  get admitted(): number {
    return Atomics.load(this.count, 0);
  }
}
