/**
 * The streaming benchmark: server CPU, memory, frame rate and latency per MJPEG client, for
 * framering (uWebSockets.js and node:http front ends), the original Flask + gevent design and a
 * C floor server, from 1 to 2000 clients on loopback.
 *
 *   npm run bench            builds, then the whole matrix into docs/bench/ (15-25 min)
 *   npm run bench:quick      a subset in under a minute, into benchmarks/.cache/quick/
 *   node dist/benchmarks/run.js --help
 *
 * Per run: a fresh server process on 127.0.0.1 playing the same frame folder at 30 fps; a
 * quiet-machine check; native-bench/build/loadgen opening the clients, warming up and measuring
 * a window; the server stopped. A run spoiled by outside load is repeated (bounded). One JSON
 * line per run on stdout (see run/results.ts); at the end results.jsonl, results.md and
 * cpu-vs-clients.svg in --out. Progress goes to stderr.
 *
 * The JPEG encode path (the synthetic camera) is measured separately by benchmarks/encode.ts
 * (npm run bench:encode): here every server only moves ready-made JPEGs.
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LOADGEN } from '../test/helpers/loadgen.js';
import { ensureFrames } from './lib/frames.js';
import { machineInfo } from './lib/machine.js';
import { exitOnSignals, killAll } from './lib/processes.js';
import type { ServerSpec } from './lib/servers.js';
import { cli, DEFAULT_CLIENTS, parseOptions } from './run/cli.js';
import { attemptEstimateS, measure, summary } from './run/measure.js';
import { cpuChartSvg, markdownReport, resultsTable } from './run/report.js';
import type { RunResult } from './run/results.js';

const log = cli.log;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (!existsSync(LOADGEN)) cli.usageError(`${LOADGEN} is missing: run make -C native-bench`);
  const started = Date.now();
  const deadline = started + o.timeLimit * 60_000;
  const machine = machineInfo();
  log(`${machine.cpu_model}, ${machine.cores} cores, Linux ${machine.kernel}, Node.js ${machine.node}; results into ${o.out}`);

  const skipped: string[] = [];
  const servers: ServerSpec[] = [];
  for (const spec of o.servers) {
    const why = spec.unavailable();
    if (why) {
      skipped.push(`${spec.name}: ${why}`);
      log(`skipping ${spec.name}: ${why}`);
    } else servers.push(spec);
  }
  const cap = (spec: ServerSpec): number => (spec.name === 'flask-gevent' ? o.flaskMax : (spec.maxClients ?? Infinity));
  for (const spec of servers) {
    const over = o.resolutions.flatMap((res) =>
      (o.clients ?? DEFAULT_CLIENTS[res.name] ?? []).filter((c) => c > cap(spec)).map((c) => `${res.name} ${c}`),
    );
    if (over.length) skipped.push(`${spec.name} above ${cap(spec)} clients (${over.join(', ')}): ${spec.capReason ?? 'capped'}`);
    if (spec.onlyClients) skipped.push(`${spec.name} runs only at ${spec.onlyClients.join(', ')} clients: ${spec.onlyReason ?? ''}`);
  }

  const results: RunResult[] = [];
  const frameNotes: string[] = [];
  for (const res of o.resolutions) {
    const frames = ensureFrames(res, o.cache, log);
    frameNotes.push(
      `${res.name}: ${frames.count} frames of ffmpeg's testsrc2 pattern, ${(frames.meanBytes / 1000).toFixed(1)} KB each on average (mjpeg q ${frames.q})`,
    );
    for (const clients of o.clients ?? DEFAULT_CLIENTS[res.name] ?? []) {
      let floor: RunResult | undefined;
      for (const spec of servers) {
        if (clients > cap(spec) || (spec.onlyClients && !spec.onlyClients.includes(clients))) continue;
        if (Date.now() + attemptEstimateS(o, clients) * 1000 > deadline) {
          skipped.push(`${spec.name} ${res.name} ${clients} clients: past the ${o.timeLimit} min time limit`);
          log(`skipping ${spec.name} ${res.name} ${clients} clients: past the time limit`);
          continue;
        }
        const r = await measure(o, spec, frames, clients, floor);
        if (spec.name === 'floor') floor = r;
        results.push(r);
        process.stdout.write(`${JSON.stringify(r)}\n`);
        log(summary(r));
      }
    }
  }

  mkdirSync(o.out, { recursive: true });
  const command = `node dist/benchmarks/run.js${argv.length ? ` ${argv.join(' ')}` : ''}`;
  writeFileSync(resolve(o.out, 'results.jsonl'), results.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(
    resolve(o.out, 'results.md'),
    markdownReport(results, {
      machine,
      date: new Date(started).toISOString().replace(/\.\d+Z$/, 'Z'),
      command,
      warmup: o.warmup,
      duration: o.duration,
      fps: o.fps,
      quietIdlePct: o.quietIdle,
      maxOtherPct: o.maxOther,
      retries: o.retries,
      skipped,
      frames: frameNotes,
    }),
  );
  writeFileSync(
    resolve(o.out, 'cpu-vs-clients.svg'),
    await cpuChartSvg(
      results,
      `${machine.cpu_model}, ${machine.cores} cores, Node.js ${machine.node}; server and load generator on the same cores, over loopback`,
    ),
  );
  process.stderr.write(`\n${resultsTable(results)}\n\n`);
  log(
    `${results.length} runs in ${((Date.now() - started) / 60_000).toFixed(1)} min; wrote results.jsonl, results.md and cpu-vs-clients.svg to ${o.out}`,
  );
}

exitOnSignals(log, 'nothing written');

main().then(
  () => process.exit(0),
  (e: unknown) => {
    killAll();
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
