/** The matrix runner's command line (node dist/benchmarks/run.js --help). */

import { resolve } from 'node:path';
import { Cli } from '../lib/cli.js';
import { parsePins, pinProcesses } from '../lib/processes.js';
import { RESOLUTIONS, resolutionByName, type Resolution } from '../lib/frames.js';
import { REPO_ROOT, SERVER_NAMES, SERVERS, type ServerSpec } from '../lib/servers.js';

const HELP = `usage: node dist/benchmarks/run.js [options]
  --quick               a subset (640x480, 500 clients, every server, 1 s warm-up, 3 s window)
  --servers LIST        comma-separated, from ${SERVER_NAMES.join(', ')} (default: all)
  --clients LIST        client counts for every resolution (default: 1,10,100,500,1000,2000 at
                        640x480 and 100,1000 at 1280x720)
  --resolutions LIST    from ${RESOLUTIONS.map((r) => r.name).join(', ')} (default: both)
  --out DIR             where results.jsonl, results.md and cpu-vs-clients.svg go
                        (default docs/bench, with --quick benchmarks/.cache/quick)
  --warmup S            seconds between connecting and measuring (default 3, quick 1)
  --duration S          measured window, seconds (default 10, quick 3)
  --fps N               the camera rate every server plays the frames at (default 30)
  --retries N           repeats of a run spoiled by outside load or an error (default 2, quick 1)
  --quiet-idle PCT      a run waits for a 1 s sample with the machine this idle (default 85)
  --quiet-wait S        ... for at most S seconds, then runs anyway (default 60, quick 5)
  --pin S,L             pin the server to CPU S and the load generator to CPU L (taskset; CPU
                        lists S:L, e.g. 0-1:2-3, on bigger machines); default: unpinned
  --max-other PCT       outside load, % of one core, above which a run is repeated (default 10)
  --time-limit MIN      runs that would end after this are skipped (default 45, quick 0.75)
  --flask-max N         most clients flask-gevent is run with (default 500)
  --cache DIR           frame sets (default benchmarks/.cache/frames)
`;

export const cli = new Cli('bench', HELP);

/** Client counts of the full matrix, per resolution (the 720p frames are more than twice the bytes). */
export const DEFAULT_CLIENTS: Readonly<Record<string, readonly number[]>> = Object.freeze({
  '640x480': [1, 10, 100, 500, 1000, 2000],
  '1280x720': [100, 1000],
});

export interface Options {
  quick: boolean;
  servers: ServerSpec[];
  resolutions: Resolution[];
  clients: number[] | undefined; // undefined: DEFAULT_CLIENTS
  out: string;
  warmup: number; // s
  duration: number; // s
  fps: number;
  retries: number;
  quietIdle: number; // %
  quietWait: number; // s
  maxOther: number; // % of one core
  timeLimit: number; // min
  flaskMax: number;
  cache: string;
  /** `--pin` as given, or null. */
  pin: string | null;
}

/** The options of `argv`, validated; exits with the usage text on a bad one. */
export function parseOptions(argv: readonly string[]): Options {
  const string = { type: 'string' } as const;
  const args = cli.parse(argv, {
    quick: { type: 'boolean' },
    servers: string,
    clients: string,
    resolutions: string,
    out: string,
    warmup: string,
    duration: string,
    fps: string,
    retries: string,
    'quiet-idle': string,
    'quiet-wait': string,
    'max-other': string,
    'time-limit': string,
    'flask-max': string,
    cache: string,
    pin: string,
  });
  const quick = args.flag('quick');
  const serverNames = args.list('servers') ?? [...SERVER_NAMES];
  for (const s of serverNames)
    if (!(SERVER_NAMES as readonly string[]).includes(s))
      cli.usageError(`--servers: unknown server ${s} (known: ${SERVER_NAMES.join(', ')})`);
  const resolutionNames = args.list('resolutions') ?? (quick ? ['640x480'] : RESOLUTIONS.map((r) => r.name));
  const resolutions = resolutionNames.map((n) => {
    try {
      return resolutionByName(n);
    } catch (e) {
      return cli.usageError(`--resolutions: ${(e as Error).message}`);
    }
  });
  const clientItems = args.list('clients') ?? (quick ? ['500'] : undefined);
  const clients = clientItems?.map((c) => {
    const v = Number(c);
    if (!Number.isInteger(v) || v < 1 || v > 10_000) cli.usageError(`--clients: expected whole numbers from 1 to 10000, got "${c}"`);
    return v;
  });
  const out = args.string('out');
  const cache = args.string('cache');
  const pin = args.string('pin') ?? null;
  try {
    pinProcesses(pin === null ? null : parsePins(pin));
  } catch (e) {
    cli.usageError((e as Error).message);
  }
  return {
    quick,
    // the floor first: the others' ratios need its figures from the same client count
    servers: SERVER_NAMES.filter((n) => serverNames.includes(n)).map((n) => SERVERS[n]),
    resolutions,
    clients,
    out: resolve(out ?? (quick ? `${REPO_ROOT}benchmarks/.cache/quick` : `${REPO_ROOT}docs/bench`)),
    warmup: args.number('warmup', quick ? 1 : 3, 0, 600),
    duration: args.number('duration', quick ? 3 : 10, 0.5, 600),
    fps: args.number('fps', 30, 1, 240),
    retries: args.number('retries', quick ? 1 : 2, 0, 10, true),
    quietIdle: args.number('quiet-idle', 85, 0, 100),
    quietWait: args.number('quiet-wait', quick ? 5 : 60, 0, 3600),
    maxOther: args.number('max-other', 10, 0, 10_000),
    timeLimit: args.number('time-limit', quick ? 0.75 : 45, 0.1, 24 * 60),
    flaskMax: args.number('flask-max', SERVERS['flask-gevent'].maxClients ?? 500, 1, 100_000, true),
    cache: resolve(cache ?? `${REPO_ROOT}benchmarks/.cache/frames`),
    pin,
  };
}
