/**
 * Which HTTP front end serves and from how many threads, decided once at start from the options
 * and whether uWebSockets.js's binary loads here. Used by the server and by `framering doctor`.
 */

import { ConfigError, UnavailableError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FrontEndName } from '../server/front-end.js';
import type { Config } from './config.js';
import { defaultHttpThreads } from './options.js';

/**
 * Which front end to run: the one asked for, else uWebSockets.js where its binary loads, else
 * node:http with a one-line warning. An explicit `--http uws` that cannot load is an error.
 */
export function chooseFrontEnd(requested: FrontEndName | undefined, probeUws: () => unknown, log: Logger): FrontEndName {
  if (requested === 'node') return 'node';
  try {
    probeUws();
    return 'uws';
  } catch (err) {
    if (!(err instanceof UnavailableError) || requested === 'uws') throw err;
    log.warn(`${err.message}; using the node:http front end instead`);
    return 'node';
  }
}

/**
 * How many HTTP threads to run: --http-threads, else defaultHttpThreads(). The node:http front
 * end serves from the main thread only: asking for more with --http node is an error; where
 * node:http was chosen because uWebSockets.js cannot load, more threads are declined with a
 * warning.
 */
export function resolveHttpThreads(config: Pick<Config, 'http' | 'httpThreads'>, frontEnd: FrontEndName, log: Logger): number {
  const asked = config.httpThreads;
  if (frontEnd === 'uws') return asked ?? defaultHttpThreads();
  if (asked === undefined || asked === 1) return 1;
  if (config.http === 'node')
    throw new ConfigError(`invalid --http-threads ${asked}: the node front end serves from one thread; use --http uws for more`);
  log.warn(`--http-threads ${asked} ignored: the node:http front end serves from one thread`);
  return 1;
}
