#!/usr/bin/env node
/**
 * The framering command. Exit status: 0 after a clean shutdown, 2 for an invalid option,
 * 1 when the server cannot start.
 */

import { helpText, type ParseResult, parseConfig } from './config.js';
import { ConfigError, describeError, UnavailableError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { type Server, startServer } from './main.js';
import { VERSION } from './version.js';

const SHUTDOWN_DEADLINE_MS = 1800;

function fail(message: string, status: number): never {
  process.stderr.write(`framering: ${message}\n`);
  process.exit(status);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'doctor') {
    // Loaded only here: the server itself never needs it.
    const { runDoctor } = await import('./doctor.js');
    process.exit(await runDoctor(process.argv.slice(3)));
  }
  if (process.argv[2] === 'sign') {
    const { runSign } = await import('./sign.js');
    process.exit(runSign(process.argv.slice(3)));
  }
  let parsed: ParseResult;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(
      `${helpText(VERSION)}\nframering doctor [--json] [options] checks this machine and the configured cameras.\nframering sign --url-secret-file FILE [--camera NAME] [--ttl 1h] prints a signed link (framering sign --help).\n`,
    );
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const { config } = parsed;
  const log = createLogger(config.logLevel);

  let server: Server;
  try {
    server = await startServer(config, { log });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    if (err instanceof UnavailableError) fail(err.message, 1);
    fail(`cannot start: ${describeError(err)}`, 1);
  }
  const scheme = config.tlsCert ? 'https' : 'http';
  const cameras = config.cameras.map((c) => `${c.name} (${c.driver})`).join(', ');
  log.info(`serving ${cameras} on ${scheme}://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${server.port}/`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: shutting down`);
    // Whatever happens, exit within the deadline.
    setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS).unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error(`shutdown: ${describeError(err)}`);
        process.exit(0);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => fail(`unexpected error: ${describeError(err)}`, 1));
