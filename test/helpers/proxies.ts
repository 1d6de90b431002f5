/**
 * Reverse proxies in front of framering, run from the configurations shipped in deploy/
 * (deploy/nginx/framering.conf, deploy/haproxy/haproxy.cfg, deploy/caddy/Caddyfile,
 * deploy/apache/framering.conf), so what the tests check is what users install.
 *
 * Each proxy runs as a child process of the test, in the foreground, as the current user, with
 * everything it writes (configuration, pid file, logs, sockets, caches) in a temporary folder
 * removed afterwards. The shipped file is rewritten only where a test machine must differ:
 * the listening port (on 127.0.0.1), the upstream ports (on 127.0.0.1), and paths (pid file,
 * logs, stats and admin sockets). Lines that only work as root (HAProxy's chroot, user and
 * group) are dropped. nginx and Apache need a main configuration around the shipped site
 * file; it is written here with the settings Debian's own main files have (nginx's gzip,
 * sendfile and tcp_nopush; Apache's mpm_event, mod_deflate and mod_setenvif).
 *
 * A proxy is stopped when the test ends (t.after), and gets SIGTERM from the kernel should the
 * test process die first (setpriv --pdeathsig), so none outlives the tests.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './paths.js';
import { sleep } from './wait.js';

export type ProxyName = 'nginx' | 'haproxy' | 'caddy' | 'apache';

export const PROXIES: readonly ProxyName[] = ['nginx', 'haproxy', 'caddy', 'apache'];

export interface RunningProxy {
  readonly name: ProxyName;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  stop(): Promise<void>;
}

/** A RunningProxy with what this suite's own tests also look at. */
export interface StartedProxy extends RunningProxy {
  readonly port: number;
  /** The temporary folder holding its configuration, logs and sockets. */
  readonly dir: string;
  /** The configuration it runs, as written (for nginx and Apache: the rewritten site file). */
  readonly config: string;
  /** Everything it wrote to stdout and stderr so far, then its log files. */
  output(): string;
}

/** The shipped single-upstream configuration of each proxy. */
export const SHIPPED_CONFIGS: Readonly<Record<ProxyName, string>> = {
  nginx: deployFile('nginx/framering.conf'),
  haproxy: deployFile('haproxy/haproxy.cfg'),
  caddy: deployFile('caddy/Caddyfile'),
  apache: deployFile('apache/framering.conf'),
};

/** The shipped examples that balance over several framering edges. */
export const EDGE_CONFIGS = {
  nginx: deployFile('nginx/framering-edges.conf'),
  haproxy: deployFile('haproxy/haproxy-edges.cfg'),
} as const satisfies Partial<Record<ProxyName, string>>;

/** The command each proxy needs, as the Debian package providing it. */
const PACKAGES: Readonly<Record<ProxyName, { command: string; versionArgs: string[]; pkg: string }>> = {
  nginx: { command: 'nginx', versionArgs: ['-v'], pkg: 'nginx' },
  haproxy: { command: 'haproxy', versionArgs: ['-v'], pkg: 'haproxy' },
  caddy: { command: 'caddy', versionArgs: ['version'], pkg: 'caddy' },
  apache: { command: 'apache2', versionArgs: ['-v'], pkg: 'apache2' },
};

const APACHE_MODULES = '/usr/lib/apache2/modules';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3000;

function deployFile(rel: string): string {
  return fileURLToPath(new URL(`deploy/${rel}`, REPO_ROOT));
}

/** Why `name` cannot run here ("needs nginx (apt-get install nginx) ..."), or undefined if it can. */
export function proxyMissing(name: ProxyName): string | undefined {
  const { command, versionArgs, pkg } = PACKAGES[name];
  const ok = spawnSync(command, versionArgs, { stdio: 'ignore', env: proxyEnv('/nonexistent') }).status === 0;
  return ok ? undefined : `needs ${command} (apt-get install ${pkg}; installed by .ci/run)`;
}

/** Replaces every match of `re` (global), failing if there is none: the shipped file changed shape. */
export function rewrite(text: string, re: RegExp, replace: string | ((...m: string[]) => string), what: string): string {
  if (!re.global) throw new Error(`rewrite ${what}: the pattern must be global`);
  const n = text.match(re)?.length ?? 0;
  const out = typeof replace === 'string' ? text.replace(re, replace) : text.replace(re, (...m: string[]) => replace(...m));
  if (n === 0) throw new Error(`rewrite ${what}: no match for ${re} in the shipped configuration`);
  return out;
}

/** Gives the n-th match of `re` the n-th port, 127.0.0.1:PORT, and requires as many matches as ports (or one port for all). */
function rewriteUpstreams(text: string, re: RegExp, ports: readonly number[], format: (port: number) => string): string {
  let n = 0;
  const out = rewrite(text, re, () => format(ports[Math.min(n++, ports.length - 1)]!), 'upstream');
  if (ports.length > 1 && n !== ports.length) throw new Error(`the configuration lists ${n} upstreams, the test gave ${ports.length}`);
  return out;
}

/**
 * The shipped configuration `text` of `name`, rewritten to listen on 127.0.0.1:`port`, proxy
 * to 127.0.0.1 at `upstreams`, and keep its files in `dir`. For nginx and Apache this is the
 * site file; mainConfig() wraps it.
 */
export function renderConfig(name: ProxyName, text: string, dir: string, port: number, upstreams: readonly number[]): string {
  switch (name) {
    case 'nginx':
      text = rewrite(text, /^(\s*)listen\s+80;/gm, `$1listen 127.0.0.1:${port};`, 'listen');
      return rewriteUpstreams(text, /\bserver\s+[0-9.]+:5000\b/g, upstreams, (p) => `server 127.0.0.1:${p}`);
    case 'haproxy':
      // Only root may chroot or change user; the test runs as whoever runs it.
      text = rewrite(text, /^\s*(chroot|user|group)\s+.*\n/gm, '', 'chroot, user and group');
      text = rewrite(text, /^(\s*)log\s+\/dev\/log\s+(\S+)/gm, '$1log stderr format raw $2', 'log');
      text = rewrite(text, /(stats socket )\S+/g, `$1${join(dir, 'admin.sock')}`, 'stats socket');
      text = rewrite(text, /^(\s*)bind\s+:80\b/gm, `$1bind 127.0.0.1:${port}`, 'bind');
      return rewriteUpstreams(text, /(?<=^\s*server\s+\S+\s+)[0-9.]+:5000\b/gm, upstreams, (p) => `127.0.0.1:${p}`);
    case 'caddy':
      text = rewrite(text, /^(\s*)admin\s+localhost:2019$/gm, `$1admin unix/${join(dir, 'admin.sock')}`, 'admin');
      text = rewrite(text, /^:80 \{$/gm, `:${port} {\n\tbind 127.0.0.1`, 'site address');
      return rewriteUpstreams(text, /(reverse_proxy) [0-9.]+:5000\b/g, upstreams, (p) => `reverse_proxy 127.0.0.1:${p}`);
    case 'apache':
      text = rewrite(text, /<VirtualHost \*:80>/g, `<VirtualHost 127.0.0.1:${port}>`, 'VirtualHost');
      return rewriteUpstreams(text, /http:\/\/[0-9.]+:5000\//g, upstreams, (p) => `http://127.0.0.1:${p}/`);
  }
}

/** The main configuration nginx and Apache need around a site file (`site`, already written to `dir`). */
function mainConfig(name: 'nginx' | 'apache', dir: string, port: number, site: string): string {
  const root = process.getuid?.() === 0;
  if (name === 'nginx') {
    return [
      // As root, nginx would run its workers as "nobody", which cannot enter the temp folder.
      ...(root ? [`user ${userInfo().username};`] : []),
      'worker_processes 1;',
      `error_log ${join(dir, 'error.log')} info;`,
      'events { worker_connections 256; }',
      'http {',
      // As in Debian's /etc/nginx/nginx.conf.
      '    sendfile on;',
      '    tcp_nopush on;',
      '    gzip on;',
      '    include /etc/nginx/mime.types;',
      '    default_type application/octet-stream;',
      `    access_log ${join(dir, 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(dir, `${k}_temp`)};`),
      `    include ${site};`,
      '}',
      '',
    ].join('\n');
  }
  const mod = (m: string) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`;
  return [
    `ServerRoot ${dir}`,
    `DefaultRuntimeDir ${dir}`,
    `PidFile ${join(dir, 'apache.pid')}`,
    `ErrorLog ${join(dir, 'error.log')}`,
    'LogLevel warn',
    `Mutex file:${dir} default`,
    // Apache refuses to serve as root: as root, its children run as nobody (the folder is then
    // made readable to them).
    ...(root ? ['User nobody', 'Group nogroup'] : []),
    `Listen 127.0.0.1:${port}`,
    'ServerName localhost',
    // What Debian enables by default that can touch a proxied response, then mod_proxy.
    ...['mpm_event', 'authz_core', 'authz_host', 'mime', 'filter', 'deflate', 'setenvif', 'reqtimeout', 'proxy', 'proxy_http'].map(mod),
    'TypesConfig /etc/mime.types',
    'Include /etc/apache2/mods-available/deflate.conf',
    'Include /etc/apache2/mods-available/reqtimeout.conf',
    'Timeout 300',
    `Include ${site}`,
    '',
  ].join('\n');
}

interface Prepared {
  file: string;
  config: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logs: string[];
}

/** The environment a proxy runs in: caches and state in `dir`, nothing from the user's home. */
function proxyEnv(dir: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, LANG: 'C' };
}

/** Writes `name`'s configuration into `dir` and says how to run it (`test`: only check the configuration). */
async function prepare(
  name: ProxyName,
  source: string,
  dir: string,
  port: number,
  upstreams: readonly number[],
  edit: (config: string) => string = (c) => c,
): Promise<Prepared> {
  const config = edit(renderConfig(name, readFileSync(source, 'utf8'), dir, port, upstreams));
  const env = proxyEnv(dir);
  switch (name) {
    case 'nginx': {
      const site = join(dir, 'framering.conf');
      const file = join(dir, 'nginx.conf');
      await writeFile(site, config);
      await writeFile(file, mainConfig('nginx', dir, port, site));
      const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', file, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`];
      return { file, config, command: 'nginx', args, env, logs: [join(dir, 'error.log')] };
    }
    case 'haproxy': {
      const file = join(dir, 'haproxy.cfg');
      await writeFile(file, config);
      return { file, config, command: 'haproxy', args: ['-db', '-f', file], env, logs: [] };
    }
    case 'caddy': {
      const file = join(dir, 'Caddyfile');
      await writeFile(file, config);
      return { file, config, command: 'caddy', args: ['run', '--config', file, '--adapter', 'caddyfile'], env, logs: [] };
    }
    case 'apache': {
      const site = join(dir, 'framering.conf');
      const file = join(dir, 'httpd.conf');
      await writeFile(site, config);
      await writeFile(file, mainConfig('apache', dir, port, site));
      if (process.getuid?.() === 0) await chmod(dir, 0o755);
      return { file, config, command: 'apache2', args: ['-f', file, '-DFOREGROUND'], env, logs: [join(dir, 'error.log')] };
    }
  }
}

/** A port free right now on 127.0.0.1 (the proxy binds it a moment later; start retries if it was taken meanwhile). */
async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, 'close');
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface StartOptions {
  /** The configuration to run (default: the shipped one, SHIPPED_CONFIGS[name]). */
  file?: string;
  /** framering's ports, one per upstream the configuration lists (or one for all). */
  upstreams: readonly number[];
  /** A change to the rewritten configuration, for tests of settings other than the shipped ones. */
  edit?: (config: string) => string;
}

/**
 * Starts the proxy from the shipped config (rewritten only for ports, paths and the upstream),
 * in the foreground, as a child process, on 127.0.0.1; stops it when the test ends (t.after).
 */
export function startProxy(t: TestContext, name: ProxyName, upstreamPort: number): Promise<RunningProxy> {
  return startProxyWith(t, name, { upstreams: [upstreamPort] });
}

/** startProxy with another configuration file, several upstreams, or an edit. */
export async function startProxyWith(t: TestContext, name: ProxyName, options: StartOptions): Promise<StartedProxy> {
  let lastError: unknown;
  // The free port may be taken between freePort() and the proxy's bind: try again on another.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(t, name, options);
    } catch (err) {
      lastError = err;
      if (!/address already in use|could not bind|cannot bind/i.test(String(err))) throw err;
    }
  }
  throw lastError;
}

async function startOnce(t: TestContext, name: ProxyName, options: StartOptions): Promise<StartedProxy> {
  const dir = await mkdtemp(join(tmpdir(), `framering-${name}-`));
  const port = await freePort();
  let p: Prepared;
  try {
    p = await prepare(name, options.file ?? SHIPPED_CONFIGS[name], dir, port, options.upstreams, options.edit);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  // setpriv: SIGTERM to the proxy if the test process dies without stopping it.
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', p.command, ...p.args], {
    cwd: dir,
    env: p.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.on('error', (err) => (out += `\n${err.message}`));
  const exited = once(child, 'exit').catch(() => undefined);
  const output = (): string => {
    let text = out;
    for (const log of p.logs) {
      try {
        text += `\n--- ${log}\n${readFileSync(log, 'utf8')}`;
      } catch {
        // not written (yet)
      }
    }
    return text;
  };

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, exited);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}:\n${output()}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not listen on ${port} within ${START_TIMEOUT_MS} ms:\n${output()}`);
    }
    await sleep(50);
  }
  t.after(stop);
  return { name, url: `http://127.0.0.1:${port}`, port, dir, config: p.config, output, stop };
}

/** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS (Caddy waits for open streams). */
async function terminate(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Checks `file` (default: the shipped configuration) with the proxy's own validator (nginx -t,
 * haproxy -c, caddy validate, apache2 -t), rewritten as startProxy would run it.
 */
export async function validateConfig(
  name: ProxyName,
  file: string = SHIPPED_CONFIGS[name],
  upstreams: readonly number[] = [5000],
): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), `framering-${name}-check-`));
  try {
    const p = await prepare(name, file, dir, 8080, upstreams);
    const args: Record<ProxyName, string[]> = {
      nginx: [...p.args, '-t'],
      haproxy: ['-c', '-f', p.file],
      caddy: ['validate', '--config', p.file, '--adapter', 'caddyfile'],
      apache: ['-t', '-f', p.file],
    };
    const r = spawnSync(p.command, args[name], { cwd: dir, env: p.env, encoding: 'utf8', timeout: 10_000 });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One command on HAProxy's stats socket (`show stat`, `show servers state`), its whole answer.
 * Only `dir` is read (the socket is `dir`/admin.sock), so a HAProxy started elsewhere with its
 * socket there (test/helpers/topology.ts) is asked the same way.
 */
export function haproxyCommand(proxy: Pick<StartedProxy, 'dir'>, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(join(proxy.dir, 'admin.sock'));
    let answer = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (answer += d));
    s.on('end', () => resolve(answer));
    s.on('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error(`haproxy stats socket: no answer to "${command}" within 3 s`)));
    s.end(`${command}\n`);
  });
}

/** HAProxy's `show stat` as rows of named fields (pxname, svname, status, check_status, check_code...). */
export async function haproxyStats(proxy: Pick<StartedProxy, 'dir'>): Promise<Record<string, string>[]> {
  const text = await haproxyCommand(proxy, 'show stat');
  const [head, ...rows] = text.split('\n').filter((l) => l.trim() !== '');
  const names = (head ?? '').replace(/^#\s*/, '').split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i] ?? String(i), v])));
}
