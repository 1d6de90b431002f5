/**
 * The number of stream viewers across every HTTP thread, in a SharedArrayBuffer so that
 * --max-clients holds for the whole process however viewers spread over threads. A viewer is
 * admitted by an atomic add that is undone if it went over the limit, so two threads admitting
 * at once can never both take the last place.
 */

export class ViewerCount {
  private readonly count: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.count = new Int32Array(buffer, 0, 1);
  }

  /** Takes a place for one viewer; false (and nothing taken) if `max` (> 0) are already in. */
  tryAdd(max: number): boolean {
    const before = Atomics.add(this.count, 0, 1);
    if (max > 0 && before >= max) {
      Atomics.sub(this.count, 0, 1);
      return false;
    }
    return true;
  }

  remove(): void {
    Atomics.sub(this.count, 0, 1);
  }

  get value(): number {
    return Atomics.load(this.count, 0);
  }
}
