/**
 * Debian's nats-server for tests: one server on 127.0.0.1 on a free port, from a configuration
 * file written per test (max_payload, a user and password, TLS), stopped when the test ends and
 * killed by the kernel should the test process die first (setpriv --pdeathsig).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
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
}

export interface TestNatsServer {
  readonly port: number;
  /** nats://127.0.0.1:PORT (tls:// with TLS). */
  readonly url: string;
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
  await writeFile(conf, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'KILL', NATS_SERVER, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 5 s:\n${out}`)), 5000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Listening for client connections on [^\s]+:(\d+)/.exec(out);
      if (m) {
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
  return { port, url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`, output: () => out, stop };
}
