/**
 * native-bench/build/loadgen as a child of a benchmark: started through processes.ts, so that
 * its lifetime is bounded and every way out of the benchmark (an error, a signal, the hard
 * deadline) kills it. Its command line and result line are test/helpers/loadgen.ts's, shared
 * with the tests.
 */

import {
  LOADGEN,
  loadgenArgs,
  loadgenBudgetMs,
  parseLoadgenOutput,
  type LoadgenOptions,
  type LoadgenRun,
} from '../../test/helpers/loadgen.js';
import { spawnBounded, type Child } from './processes.js';

export interface LoadgenChild {
  child: Child;
  /** Resolves once loadgen has exited with its result line; rejects, with its output, without one. */
  run: Promise<LoadgenRun>;
}

/** Starts loadgen against `o.port`; the caller awaits `run` or kills `child`. */
export function startLoadgen(o: LoadgenOptions): LoadgenChild {
  const child = spawnBounded(LOADGEN, loadgenArgs(o), loadgenBudgetMs(o), process.env, 'load');
  const run = child.exited.then((exit) => ({
    result: parseLoadgenOutput(child.stdout(), child.stderr(), `exited with ${exit.status ?? exit.signal}`),
    status: exit.status,
    stderr: child.stderr(),
  }));
  return { child, run };
}

/** Runs loadgen to completion; throws when it prints no result line. */
export async function runLoadgen(o: LoadgenOptions): Promise<LoadgenRun> {
  const { child, run } = startLoadgen(o);
  try {
    return await run;
  } finally {
    await child.stop(1000);
  }
}
