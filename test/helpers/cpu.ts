/** Exact CPU time of a process, summed over its threads, from /proc/PID/task/TID/schedstat. */

import { readdirSync, readFileSync } from 'node:fs';

/** Nanoseconds of CPU used so far by the live threads of `pid`. */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return total;
}
