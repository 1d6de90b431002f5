/**
 * Loaded into every thread of a measured framering process (`node --import probe.js`; worker
 * threads inherit it), it appends one JSON line to the file named by FIXED_COST_TIDS: the
 * thread's Linux thread id and the script the thread runs. Node.js 20 leaves every thread's
 * /proc name as "node", so this is how the benchmark tells the capture worker, the HTTP threads
 * and the encoder threads from V8's and libuv's helpers. It runs once per thread, at its start.
 */

import { appendFileSync, readlinkSync } from 'node:fs';

const file = process.env.FIXED_COST_TIDS;
if (file) {
  // /proc/thread-self is the calling thread's own task folder: "PID/task/TID".
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  appendFileSync(file, `${JSON.stringify({ tid, script: process.argv[1] ?? '' })}\n`);
}
