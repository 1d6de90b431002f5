/** The soak run's command line (node dist/benchmarks/soak.js --help). */

import { resolve } from 'node:path';
import { Cli } from '../lib/cli.js';
import { REPO_ROOT } from '../lib/servers.js';
import { SLOW_SESSION_S } from './slow-readers.js';

const HELP = `usage: node dist/benchmarks/soak.js [options]
  --duration S          length of the run, seconds (default 600)
  --viewers N           streams held by native-bench/build/loadgen for the whole run (default 500)
  --churn-rate R        connect / first frame / disconnect cycles per second (default 20; 0: none)
  --slow-readers N      viewers reading 10 KB/s, each reconnecting every ${SLOW_SESSION_S} s (default 5)
  --http IMPL           the server's front end: uws or node (default uws)
  --sample-interval S   seconds between samples (default 5)
  --out DIR             where soak.csv, soak.svg, summary.md and soak.json go (default docs/soak)
  --fps N               the camera's rate (default 30)
  --note TEXT           a sentence for the summary about the conditions (say, what else ran)
  --frames DIR          a folder of JPEGs to play (default: the benchmark's 640x480 set,
                        made with ffmpeg on first use; the emulated camera's images without ffmpeg)
  --trace-gc            run the server with node --trace-gc: every isolate's heap after each
                        collection goes to server.log, to tell which thread's heap grows
`;

export const cli = new Cli('soak', HELP);

export interface Options {
  duration: number; // s
  viewers: number;
  churnRate: number; // cycles per s
  slowReaders: number;
  http: 'uws' | 'node';
  interval: number; // s
  out: string;
  fps: number;
  frames: string | undefined;
  note: string | undefined;
  traceGc: boolean;
}

/** The options of `argv`, validated and frozen; exits with the usage text on a bad one. */
export function parseOptions(argv: readonly string[]): Options {
  const string = { type: 'string' } as const;
  const args = cli.parse(argv, {
    duration: string,
    viewers: string,
    'churn-rate': string,
    'slow-readers': string,
    http: string,
    'sample-interval': string,
    out: string,
    fps: string,
    frames: string,
    note: string,
    'trace-gc': { type: 'boolean' },
  });
  const http = args.string('http') ?? 'uws';
  if (http !== 'uws' && http !== 'node') return cli.usageError(`--http: expected uws or node, got "${http}"`);
  const out = args.string('out');
  const frames = args.string('frames');
  const note = args.string('note')?.trim();
  const o: Options = {
    // loadgen needs its warm-up and a window of a few seconds at least
    duration: args.number('duration', 600, 20, 7 * 24 * 3600),
    viewers: args.number('viewers', 500, 1, 10_000, true),
    churnRate: args.number('churn-rate', 20, 0, 1000),
    slowReaders: args.number('slow-readers', 5, 0, 1000, true),
    http,
    interval: args.number('sample-interval', 5, 0.5, 3600),
    out: resolve(out ?? `${REPO_ROOT}docs/soak`),
    fps: args.number('fps', 30, 1, 240),
    frames: frames === undefined ? undefined : resolve(frames),
    note: note ? note : undefined,
    traceGc: args.flag('trace-gc'),
  };
  if (o.interval * 2 > o.duration) cli.usageError('--sample-interval: at most half of --duration');
  return Object.freeze(o);
}
