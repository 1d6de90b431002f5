/**
 * The one viewer of the fixed-cost benchmark, run as its own process so its CPU is not counted
 * in the server's: test/helpers/mjpeg-client.ts reading one stream, asking as a browser's <img>
 * asks (Sec-Fetch-Dest: image), as the viewer benchmark does. It prints the number of frames
 * received so far, one line per frame, so the benchmark reads the count at any moment.
 *
 *   node dist/benchmarks/fixed-cost/viewer.js PORT [PATH]
 */

import { MjpegClient } from '../../test/helpers/mjpeg-client.js';

const port = Number(process.argv[2]);
const path = process.argv[3] ?? '/video_feed';
let received = 0;
const client = await MjpegClient.connect({
  port,
  path,
  headers: { 'Sec-Fetch-Dest': 'image' },
  headTimeoutMs: 10_000,
  retainBodies: 1,
  onFrame: () => {
    received++;
    process.stdout.write(`${received}\n`);
  },
});
if (client.status !== 200) {
  process.stderr.write(`viewer: ${path} answered ${client.status} ${client.statusText}\n`);
  process.exit(1);
}
await client.whenClosed();
process.stderr.write(`viewer: the stream closed after ${received} frames${client.errors.length ? `: ${client.errors[0]!.message}` : ''}\n`);
process.exit(client.errors.length ? 1 : 0);
