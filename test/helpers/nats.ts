/**
 * Debian's nats-server for tests: one server on 127.0.0.1 on a free port, from a configuration
 * file written per test (max_payload, a user and password, TLS), stopped when the test ends and
 * killed by the kernel should the test process die first (setpriv --pdeathsig).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from './paths.js';
import { hasCommand, missing } from './requirements.js';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const natsServerMissing = missing({ 'nats-server': hasCommand(NATS_SERVER, ['--version']) });

export interface NatsServerOptions {
  /** Largest message, bytes (the server's default is 1 MB). */
  maxPayload?: number;
  /** Require this user and password. */
  user?: { user: string; password: string };
  /** Serve TLS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** The whole configuration instead (the options above are then ignored). */
  config?: string;
}

export interface TestNatsServer {
  readonly port: number;
  /** nats://127.0.0.1:PORT (tls:// with TLS). */
  readonly url: string;
  /** The port leaf nodes connect to, if the configuration opens one. */
  readonly leafPort: number | undefined;
  /** Everything the server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startNatsServer(t: TestContext, options: NatsServerOptions = {}): Promise<TestNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-nats-'));
  const lines = ['listen: 127.0.0.1:-1'];
  if (options.maxPayload !== undefined) lines.push(`max_payload: ${options.maxPayload}`);
  if (options.user) lines.push(`authorization { user: "${options.user.user}", password: "${options.user.password}" }`);
  if (options.tls) lines.push(`tls { cert_file: "${options.tls.certFile}", key_file: "${options.tls.keyFile}" }`);
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, options.config ?? `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'KILL', NATS_SERVER, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 5 s:\n${out}`)), 5000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Listening for client connections on [^\s]+:(\d+)/.exec(out);
      // The leaf node listener, if any, is announced before the client one.
      if (m && /Server is ready/.test(out)) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${out}`));
    });
  });
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exit = once(child, 'exit');
        child.kill('SIGKILL');
        await exit;
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  t.after(stop);
  const leaf = /Listening for leafnode connections on [^\s]+:(\d+)/.exec(out);
  return {
    port,
    url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`,
    leafPort: leaf ? Number(leaf[1]) : undefined,
    output: () => out,
    stop,
  };
}

/**
 * A configuration shipped in deploy/nats/, made runnable on 127.0.0.1 by a test: every listener
 * on 127.0.0.1 and a free port, no monitoring port, and `edits` (pattern, replacement) applied in
 * order. Fails if a pattern matches nothing, so the test notices when the shipped file changes.
 */
export function shippedNatsConfig(file: string, edits: readonly [RegExp, string][] = []): string {
  let text = readFileSync(new URL(`deploy/nats/${file}`, REPO_ROOT), 'utf8');
  // The monitoring port, where the file opens one, is dropped.
  text = text.replace(/^http: .*$/m, '# http: (no monitoring port in tests)');
  const all: [RegExp, string][] = [[/^listen: .*$/m, 'listen: 127.0.0.1:-1'], ...edits];
  for (const [pattern, replacement] of all) {
    if (!pattern.test(text)) throw new Error(`deploy/nats/${file} no longer matches ${pattern}`);
    text = text.replace(pattern, replacement);
  }
  return text;
}
