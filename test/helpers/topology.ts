/**
 * Several test hosts on one private network, made of Linux network namespaces, for tests and
 * benchmarks that need what separate machines give: each host has its own address, loopback,
 * sockets and queues, so killing a host's process, slowing its link or losing its packets acts
 * between hosts as it would between machines, and a process's connections can be told apart by
 * the address they come from (one NATS connection from the capture host, one HTTP connection
 * from an edge).
 *
 *   namespace <tag>-sw (the switch)          one namespace per host, <tag>-<name>
 *   ┌───────────────────────────────┐        ┌──────────────────────────────┐
 *   │ br0 ─ p0 ═══════════ veth ════╪════════╪═ eth0 169.254.X.1/24  capture │
 *   │     ─ p1 ═════════════════════╪════════╪═ eth0 169.254.X.2/24  nats1   │
 *   │     ─ ...                     │        └──────────────────────────────┘
 *   │     ─ pc ═════════════════════╪═ <tag>c 169.254.X.254/24 in the test's own namespace
 *   └───────────────────────────────┘   (optional: `control`, to reach /status from the test)
 *
 * The switch has a namespace of its own so that nothing but the optional control link touches
 * the machine's network. The /24 is picked at random in 169.254.X.0/24 (link-local, never
 * 169.254.169.x, the cloud metadata range) among those this machine does not use, and every name
 * carries a tag unique to the run, since other suites may build their own at the same time.
 * Root and iproute2 only; everything is deleted when the owner's `after` runs: processes are
 * killed first (a namespace lives on while a process is in it), then the namespaces.
 *
 * Hosts know each other by name (/etc/netns/NS/hosts, which `ip netns exec` mounts over
 * /etc/hosts), and each process's hostname is its host's name. Each runs as
 * `setpriv --pdeathsig KILL -- ip netns exec NS unshare --uts ... COMMAND...`: every step execs
 * the next, so the child's pid is the command's own, and the kernel kills it should the test
 * process die before its `after` runs.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NATS_SERVER } from './nats.js';
import { REPO_ROOT } from './paths.js';
import { EDGE_CONFIGS, haproxyCommand, haproxyStats, rewrite } from './proxies.js';
import { CLI, cleanEnv } from './server.js';
import { sleep } from './wait.js';

const run = promisify(execFile);

/** Whatever registers cleanup: a TestContext, or a Cleanup for what a suite sets up in `before`. */
export interface Owner {
  after(fn: () => unknown): void;
}

/**
 * An Owner for what a suite sets up once, in `before`: a `before` hook's own context would clean
 * up as soon as the hook returns, so this collects the cleanups and the suite's `after` runs
 * them (`after(() => cleanup.run())`), in the order they were added, as t.after does.
 */
export class Cleanup implements Owner {
  private readonly fns: (() => unknown)[] = [];

  after(fn: () => unknown): void {
    this.fns.push(fn);
  }

  /** Runs every cleanup once, in order; one that fails does not stop the others. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const fn of this.fns.splice(0)) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

const COMMAND_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 15_000;
/** SIGTERM, then SIGKILL after this long. */
const STOP_TIMEOUT_MS = 3000;
/** Output kept per process, for failure messages. */
const OUTPUT_LIMIT = 256 * 1024; // bytes

/** Runs `ip ARGS...`; the error names the command and carries its stderr. */
async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: COMMAND_TIMEOUT_MS });
}

async function tc(ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'tc', ...args], { timeout: COMMAND_TIMEOUT_MS });
}

export interface TopologyOptions {
  /** Host names, in address order (the first gets .1); short words, unique. */
  hosts: readonly string[];
  /** Give the test process an address on the network too (.254), to reach the hosts' ports (default true). */
  control?: boolean;
}

export interface Topology {
  /** Unique to this run; prefixes every namespace and interface name. */
  readonly tag: string;
  /** 169.254.X.0/24 */
  readonly subnet: string;
  readonly hosts: ReadonlyMap<string, Host>;
  /** The test process's own address on the network, if `control`. */
  readonly controlAddr: string | undefined;
  /** The host named `name`; throws if there is none. */
  host(name: string): Host;
  /** Whether this kernel has netem (a fixed delay for Host.shape); asked once. */
  hasNetem(): Promise<boolean>;
}

/**
 * Builds the network: the switch, one namespace per host joined to it, and the control link.
 * Cleanup is registered with `owner` before each piece is made, so a failure halfway leaves
 * nothing behind.
 */
export async function createTopology(owner: Owner, { hosts: names, control = true }: TopologyOptions): Promise<Topology> {
  if (new Set(names).size !== names.length) throw new Error(`host names must be unique: ${names.join(', ')}`);
  const bad = names.find((n) => !/^[a-z][a-z0-9-]{0,30}$/.test(n));
  if (bad !== undefined)
    throw new Error(`host name "${bad}": lower-case letters, digits and "-" (it is also the host's name in /etc/hosts)`);
  if (names.length > 250) throw new Error('at most 250 hosts on one /24');
  // 6 characters: interface names are 15 at most, and the control link's is `fr<tag>c`.
  const tag = `fr${((process.pid % 1000) * 1000 + Math.floor(Math.random() * 1000)).toString(36).padStart(4, '0')}`;
  const x = await freeLinkLocalSubnet();
  const prefix = `169.254.${x}`;
  const switchNs = `${tag}-sw`;
  const hosts = new Map<string, Host>();
  const namespaces: string[] = [];

  owner.after(async () => {
    // Processes first: a namespace whose name is deleted lives on while a process is in it.
    await Promise.all([...hosts.values()].map((h) => h.stopAll()));
    // Deleting a namespace deletes its ends of the veth pairs, and with them the other ends.
    for (const ns of namespaces.reverse()) {
      await ip('netns', 'del', ns).catch(() => {});
      await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    if (control) await ip('link', 'del', `${tag}c`).catch(() => {});
  });

  namespaces.push(switchNs);
  await ip('netns', 'add', switchNs);
  await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
  for (const [i, name] of names.entries()) {
    const ns = `${tag}-${name}`;
    namespaces.push(ns);
    const host = new Host(name, ns, `${prefix}.${i + 1}`, switchNs, `p${i}`);
    await ip('netns', 'add', ns);
    // The pair is made in the switch's namespace with its other end moved straight into the
    // host's, so neither end ever appears in (or clashes with names in) the machine's own.
    await ip('-n', switchNs, 'link', 'add', host.switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', switchNs, 'link', 'set', host.switchPort, 'master', 'br0', 'up');
    await ip('-n', ns, 'addr', 'add', `${host.addr}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    // Programs bind and talk to 127.0.0.1 on their own (Chromium, HAProxy's stats); a new namespace's lo is down.
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    hosts.set(name, host);
  }
  // Every host knows the others by name, as machines on a LAN would: `ip netns exec` mounts
  // /etc/netns/NS/hosts over /etc/hosts for what it runs. So commands and shipped configuration
  // files name hosts as a user's do (http://capture:5000/..., nats-route://nats1:6222).
  const etcHosts = ['127.0.0.1 localhost', '::1 localhost', ...[...hosts.values()].map((h) => `${h.addr} ${h.name}`), ''].join('\n');
  for (const host of hosts.values()) {
    await mkdir(`/etc/netns/${host.ns}`, { recursive: true });
    await writeFile(`/etc/netns/${host.ns}/hosts`, etcHosts);
  }
  let controlAddr: string | undefined;
  if (control) {
    controlAddr = `${prefix}.254`;
    await ip('link', 'add', `${tag}c`, 'type', 'veth', 'peer', 'name', 'pc', 'netns', switchNs);
    await ip('-n', switchNs, 'link', 'set', 'pc', 'master', 'br0', 'up');
    await ip('addr', 'add', `${controlAddr}/24`, 'dev', `${tag}c`);
    await ip('link', 'set', `${tag}c`, 'up');
  }
  let netem: Promise<boolean> | undefined;
  return {
    tag,
    subnet: `${prefix}.0/24`,
    hosts,
    controlAddr,
    host(name) {
      const h = hosts.get(name);
      if (!h) throw new Error(`no host "${name}" (hosts: ${[...hosts.keys()].join(', ')})`);
      return h;
    },
    hasNetem() {
      // Tried on the switch's loopback, which nothing uses.
      netem ??= tc(switchNs, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms').then(
        () => tc(switchNs, 'qdisc', 'del', 'dev', 'lo', 'root').then(() => true),
        () => false,
      );
      return netem;
    },
  };
}

/**
 * An X for 169.254.X.0/24 that no address or route of this machine's namespace uses (another
 * suite's link, a cloud's link-local route), skipping .0 and .255 (reserved by RFC 3927) and 169.
 */
async function freeLinkLocalSubnet(): Promise<number> {
  const { stdout: addrs } = await run('ip', ['-4', '-o', 'addr', 'show'], { timeout: COMMAND_TIMEOUT_MS });
  const { stdout: routes } = await run('ip', ['-4', 'route', 'show', 'table', 'all'], { timeout: COMMAND_TIMEOUT_MS });
  const used = new Set([...`${addrs}\n${routes}`.matchAll(/169\.254\.(\d+)\./g)].map((m) => Number(m[1])));
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((x) => x !== 169 && !used.has(x));
  if (free.length === 0) throw new Error('no free 169.254.X.0/24 on this machine');
  return free[Math.floor(Math.random() * free.length)]!;
}

export interface SpawnOptions {
  /** Added to the environment (the test's, without FRAMERING_* and CAMERA). */
  env?: NodeJS.ProcessEnv;
  /** Resolve only once the process's output (stdout and stderr) matches this. */
  ready?: RegExp;
  readyTimeoutMs?: number;
  /** Open Node's IPC channel to the child (a Node.js child only): send() and 'message'. */
  ipc?: boolean;
}

/** A slow or lossy link, as Host.shape makes it. */
export interface LinkSpec {
  /** Bandwidth, in tc's units ('2mbit'). */
  rate: string;
  /** Share of packets lost, at random (0 to 1). */
  loss?: number;
  /** Packets the link queues before it drops (default 100); on a link slower than what is sent, this is its delay. */
  queue?: number;
  /** A fixed delay, ms. Needs netem (sch_netem), which some kernels lack: see Topology.hasNetem. */
  delayMs?: number;
}

export interface ShapeOptions {
  /**
   * 'in' (default): traffic arriving at the host, shaped where the switch sends it (its port's
   * egress); 'out': traffic the host sends, shaped on its eth0.
   */
  direction?: 'in' | 'out';
  /** Only traffic from (in) or to (out) these addresses; by default all of it (IPv4). */
  peers?: readonly string[];
}

/**
 * A classic BPF program for tc's bpf classifier that matches a packet with probability `p`:
 * it loads the kernel's per-packet random number (the SKF_AD_RANDOM ancillary load) and
 * matches when it is at least (1 - p) x 2^32. In tc's `bytecode` notation: count, then
 * "code jt jf k" per instruction.
 */
function randomMatchBytecode(p: number): string {
  const SKF_AD_RANDOM = 0xfffff000 + 56; // SKF_AD_OFF (-0x1000) + SKF_AD_RANDOM, as u32
  const threshold = Math.min(0xffffffff, Math.floor((1 - p) * 2 ** 32));
  const insns = [
    [0x20, 0, 0, SKF_AD_RANDOM], // ld  rand            (BPF_LD | BPF_W | BPF_ABS)
    [0x35, 0, 1, threshold], //     jge #threshold, match, no match   (BPF_JMP | BPF_JGE | BPF_K)
    [0x06, 0, 0, 0xffffffff], //    ret #-1: match, to the filter's classid
    [0x06, 0, 0, 0], //             ret #0: no match
  ];
  return `${insns.length},${insns.map((i) => i.join(' ')).join(',')},`;
}

/** One test host: a namespace with an address on the network, and the processes run in it. */
export class Host {
  readonly processes: HostProcess[] = [];

  /** @internal made by createTopology */
  constructor(
    readonly name: string,
    /** The network namespace (`ip netns exec NS ...`). */
    readonly ns: string,
    /** Its address on the network. */
    readonly addr: string,
    private readonly switchNs: string,
    /** Its port on the switch (in the switch's namespace): where traffic towards it can be shaped. */
    readonly switchPort: string,
  ) {}

  /** http://ADDR:PORT/PATH, by address: for the test process (on the control link), which does not know the hosts' names. */
  url(port: number, path = '/'): string {
    return `http://${this.addr}:${port}${path}`;
  }

  /** Runs `command` in this host to completion (killed after 10 s); rejects if it fails. */
  async exec(command: string, args: readonly string[] = []): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', this.ns, command, ...args], { timeout: COMMAND_TIMEOUT_MS });
    return stdout;
  }

  /** Starts `command` in this host; resolves once it is `ready` (if asked), else at once. */
  async spawn(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<HostProcess> {
    const proc = new HostProcess(this, command, args, options);
    this.processes.push(proc);
    await proc.start();
    return proc;
  }

  /** Starts Node.js (this one) with `args` in this host. */
  node(args: readonly string[], options: SpawnOptions = {}): Promise<HostProcess> {
    return this.spawn(process.execPath, args, options);
  }

  /**
   * Starts the framering command (dist/src/app/cli.js) with `args` in this host; resolves once
   * it listens. Give it `--host 0.0.0.0` (or this host's address) to be reachable from the others.
   */
  framering(args: readonly string[], options: Omit<SpawnOptions, 'ready'> = {}): Promise<HostProcess> {
    return this.node([CLI, ...args], { ...options, ready: /front end listening on https?:\/\/\S+:\d+\// });
  }

  /**
   * Writes an executable script that runs `program` with its arguments in this host, for a
   * library that starts a program itself (playwright's executablePath: Chromium then lives
   * here, and its requests come from this host's address). Removed when `owner`'s after runs.
   */
  async wrapper(owner: Owner, program: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `${this.ns}-`));
    owner.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'run-in-host');
    // The program's parent is whoever runs the script (exec, not fork): it gets KILL when that one dies.
    await writeFile(file, `#!/bin/sh\nexec setpriv --pdeathsig KILL -- ip netns exec '${this.ns}' '${program}' "$@"\n`);
    await chmod(file, 0o755);
    return file;
  }

  /**
   * Makes this host's link slow and lossy (`link`), for all its traffic of one direction or only
   * that from or to `peers` (an edge's upstream, not its viewers). Built from HTB, u32, the
   * classic BPF classifier and pfifo, since some kernels (this project's CI virtual machines')
   * have no netem nor prio: an HTB class at `rate` gets the matching traffic (u32 filters on the peers' addresses;
   * the rest bypasses it), and within it a classic BPF filter sends a random `loss` share of
   * packets to a class whose queue holds nothing (pfifo limit 0: each is dropped). The kept ones
   * queue in a pfifo of `queue` packets, or in a netem with `delayMs` when a delay is asked for.
   * Replaces any shaping of that direction.
   *
   *   root 1: htb ── 1:1 rate ──┬── 1:2 ── 10: pfifo limit QUEUE (or netem delay D limit QUEUE)
   *   (unmatched: direct)       └── 1:3 ── 30: pfifo limit 0      (the lost packets)
   */
  async shape(link: LinkSpec, { direction = 'in', peers }: ShapeOptions = {}): Promise<void> {
    const [ns, dev] = direction === 'in' ? [this.switchNs, this.switchPort] : [this.ns, 'eth0'];
    const { rate, loss = 0, queue = 100, delayMs } = link;
    const qdisc = (...args: string[]) => tc(ns, 'qdisc', 'add', 'dev', dev, ...args);
    // An explicit quantum: HTB's default (rate / 10) is out of its range at low and high rates, and it says so.
    const htbClass = (parent: string, id: string) =>
      tc(ns, 'class', 'add', 'dev', dev, 'parent', parent, 'classid', id, 'htb', 'rate', rate, 'ceil', rate, 'quantum', '1514');
    const filter = (parent: string, prio: string, ...args: string[]) =>
      tc(ns, 'filter', 'add', 'dev', dev, 'parent', parent, 'protocol', 'ip', 'prio', prio, ...args);

    await tc(ns, 'qdisc', 'del', 'dev', dev, 'root').catch(() => {});
    // No default class: what no filter sends to 1:1 goes out directly, unshaped.
    await qdisc('root', 'handle', '1:', 'htb');
    await htbClass('1:', '1:1');
    let leaf = '1:1';
    if (loss > 0) {
      await htbClass('1:1', '1:2');
      await htbClass('1:1', '1:3');
      await qdisc('parent', '1:3', 'handle', '30:', 'pfifo', 'limit', '0');
      // HTB classifies level by level: the filters of 1:1 choose between its two children.
      await filter('1:1', '1', 'bpf', 'bytecode', randomMatchBytecode(loss), 'classid', '1:3');
      await filter('1:1', '2', 'u32', 'match', 'u32', '0', '0', 'flowid', '1:2');
      leaf = '1:2';
    }
    const limit = ['limit', String(queue)];
    await qdisc(
      'parent',
      leaf,
      'handle',
      '10:',
      ...(delayMs === undefined ? ['pfifo', ...limit] : ['netem', 'delay', `${delayMs}ms`, ...limit]),
    );
    const match = direction === 'in' ? 'src' : 'dst';
    for (const peer of peers ?? ['0.0.0.0/0']) {
      await filter('1:', '1', 'u32', 'match', 'ip', match, peer.includes('/') ? peer : `${peer}/32`, 'flowid', '1:1');
    }
  }

  /** Removes the shaping of both directions. */
  async unshape(): Promise<void> {
    await tc(this.switchNs, 'qdisc', 'del', 'dev', this.switchPort, 'root').catch(() => {});
    await tc(this.ns, 'qdisc', 'del', 'dev', 'eth0', 'root').catch(() => {});
  }

  /** Kills every process of this host with `signal` (a host that crashes: SIGKILL) and waits for them. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill(signal)));
  }

  /** Starts again every process of this host that is not running (the host is back), in the order they were first started. */
  async restart(): Promise<void> {
    for (const p of this.processes) if (!p.running) await p.restart();
  }

  /** @internal Cleanup: SIGKILL to every process (nothing is asked of them any more, and it is quickest). */
  async stopAll(): Promise<void> {
    await this.kill('SIGKILL');
  }
}

/**
 * The command prefix that gives what follows a UTS namespace of its own named `hostname`: a
 * program that knows its machine's name (framering accepts it in the Host header, against DNS
 * rebinding) sees its host's, as on a machine of its own. unshare and sh both exec.
 */
function inOwnUts(hostname: string): string[] {
  return ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', hostname];
}

/**
 * A process run in a host. It can be killed and started again with the same command (restart),
 * as a supervisor would; `pid` and `child` are then the new process's.
 */
export class HostProcess {
  child!: ChildProcess;
  private out = '';
  private exitedPromise: Promise<void> = Promise.resolve();

  /** @internal use host.spawn */
  constructor(
    readonly host: Host,
    readonly command: string,
    readonly args: readonly string[],
    private readonly options: SpawnOptions,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything it wrote so far (stdout and stderr, every run; the last 256 KB). */
  output(): string {
    return this.out;
  }

  /** @internal */
  async start(): Promise<void> {
    const { env = {}, ipc = false, ready, readyTimeoutMs = READY_TIMEOUT_MS } = this.options;
    // Every step execs the next, so the child's pid ends up the command's own.
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', this.host.ns, ...inOwnUts(this.host.name), this.command, ...this.args],
      {
        env: { ...cleanEnv(), ...env },
        stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
      },
    );
    this.child = child;
    // A process that could not be started emits 'error' and no 'exit'.
    this.exitedPromise = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    /** This run's output, while it is awaited to be ready. */
    let fresh = '';
    let onOutput: (() => void) | null = null;
    const collect = (d: string): void => {
      this.out = (this.out + d).slice(-OUTPUT_LIMIT);
      if (onOutput === null) return;
      fresh += d;
      onOutput();
    };
    child.stdout!.setEncoding('utf8').on('data', collect);
    child.stderr!.setEncoding('utf8').on('data', collect);
    child.on('error', (err) => collect(`\n[cannot start: ${err.message}]\n`));
    if (ready === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onOutput = () => {
          if (ready.test(fresh)) resolve();
        };
        timer = setTimeout(
          () => reject(new Error(`${this.describe()} not ready (no output matching ${ready}) within ${readyTimeoutMs} ms:\n${fresh}`)),
          readyTimeoutMs,
        );
        // Once ready, a later exit no longer matters here (the promise is settled).
        void this.exitedPromise.then(() => reject(new Error(`${this.describe()} exited before it was ready:\n${fresh}`)));
      });
    } finally {
      clearTimeout(timer);
      onOutput = null;
    }
  }

  /** Sends `signal` (default SIGKILL: the machine dies, nothing is said to anyone) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exitedPromise;
  }

  /** Starts the same command again (killing it first if it still runs); resolves once it is ready. */
  async restart(): Promise<void> {
    await this.kill();
    this.out += `\n[restarted]\n`;
    await this.start();
  }

  /** Resolves when the current run has exited. */
  exited(): Promise<void> {
    return this.exitedPromise;
  }

  /** SIGTERM (a clean stop), then SIGKILL if it has not exited within a few seconds. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  describe(): string {
    const base = this.command === process.execPath ? 'node' : this.command;
    return `${base} ${this.args.join(' ').slice(0, 120)} on ${this.host.name}`;
  }
}

/**
 * GET `url` on a connection of its own (no keep-alive pool: a pooled connection to a host that
 * was just killed fails the next request), and parse the answer as JSON. Rejects on a status
 * other than 200, or after `timeoutMs`.
 */
export function getJson<T>(url: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode} ${body.slice(0, 200)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error(`GET ${url}: not JSON: ${body.slice(0, 200)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `read` every `everyMs` until `ok` holds; resolves with the value and how long it took
 * (ms), or, after `timeoutMs`, with the last value and ms null. A read that throws counts as not
 * yet (a host being restarted refuses connections).
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<{ value: T | undefined; ms: number | null }> {
  const t0 = performance.now();
  let value: T | undefined;
  for (;;) {
    try {
      value = await read();
      if (ok(value)) return { value, ms: performance.now() - t0 };
    } catch {
      // not reachable yet
    }
    if (performance.now() - t0 > timeoutMs) return { value, ms: null };
    await sleep(everyMs);
  }
}

// Services a topology runs: a NATS cluster, and the shipped HAProxy configuration over edges.

/** One server of a NATS cluster, on its own host: clients on 4222, routes on 6222, monitoring on 8222. */
export interface NatsServer {
  readonly host: Host;
  readonly proc: HostProcess;
  /** nats://NAME:4222, for the topology's hosts (they know each other by name). */
  readonly url: string;
  /** The configuration it runs. */
  readonly config: string;
  /** GET /connz: the server's client connections (routes are not clients). */
  connections(): Promise<NatsServerConnection[]>;
}

export const NATS_CLIENT_PORT = 4222;
export const NATS_MONITOR_PORT = 8222;
const NATS_ROUTE_PORT = 6222;

/**
 * Starts a NATS cluster, one server on each of `hosts`, each from the shipped
 * deploy/nats/cluster.conf (`nats-server -c CONF`), and resolves once every server has a route to
 * every other (a cluster still forming loses a subscriber's interest between servers). The file
 * is rewritten only where a test host must differ: `server_name` is the host's name, the route
 * list names these hosts (the shipped one names nats1, nats2, nats3), and monitoring listens on
 * the host's network, not only on its loopback, so that the test reads /connz and /routez.
 * Its listeners stay on 0.0.0.0: each host is a namespace of its own. The configurations live in
 * a temporary folder removed when `owner`'s after runs.
 */
export async function startNatsCluster(owner: Owner, hosts: readonly Host[], timeoutMs = 15_000): Promise<NatsServer[]> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-nats-'));
  owner.after(() => rm(dir, { recursive: true, force: true }));
  const shipped = readFileSync(new URL('deploy/nats/cluster.conf', REPO_ROOT), 'utf8');
  const servers = await Promise.all(
    hosts.map(async (host): Promise<NatsServer> => {
      let config = rewrite(shipped, /^server_name: \S+/gm, `server_name: ${host.name}`, 'server_name');
      config = rewrite(config, /^http: 127\.0\.0\.1:/gm, 'http: 0.0.0.0:', 'monitoring address');
      let first = true;
      config = rewrite(
        config,
        /^(\s*)nats-route:\/\/\S+\n/gm,
        (_m, indent) => {
          if (!first) return '';
          first = false;
          // Its own route among them is ignored by the server.
          return hosts.map((h) => `${indent}nats-route://${h.name}:${NATS_ROUTE_PORT}\n`).join('');
        },
        'routes',
      );
      const conf = join(dir, `${host.name}.conf`);
      await writeFile(conf, config);
      const proc = await host.spawn(NATS_SERVER, ['-c', conf], { ready: /Server is ready/ });
      return {
        host,
        proc,
        url: `nats://${host.name}:${NATS_CLIENT_PORT}`,
        config,
        connections: async () =>
          (await getJson<{ connections?: NatsServerConnection[] }>(host.url(NATS_MONITOR_PORT, '/connz'))).connections ?? [],
      };
    }),
  );
  await waitForNatsRoutes(servers, timeoutMs);
  return servers;
}

/** A client connection as /connz lists it (the fields the tests read). */
export interface NatsServerConnection {
  cid: number;
  ip: string;
  port: number;
  name?: string;
  subscriptions: number;
}

/** Resolves once every server in `servers` routes to all the others (after a start or a restart). */
export async function waitForNatsRoutes(servers: readonly NatsServer[], timeoutMs = 15_000): Promise<void> {
  const want = servers.length - 1;
  const routes = () =>
    Promise.all(servers.map(async (s) => (await getJson<{ num_routes: number }>(s.host.url(NATS_MONITOR_PORT, '/routez'))).num_routes));
  const r = await pollUntil(routes, (n) => n.every((k) => k >= want), timeoutMs, 200);
  if (r.ms === null) throw new Error(`the NATS cluster did not form within ${timeoutMs} ms (routes per server: ${r.value?.join(', ')})`);
}

export interface EdgeBalancer {
  readonly proc: HostProcess;
  /** Where its stats socket is (dir/admin.sock), for haproxyStats and haproxyCommand. */
  readonly dir: string;
  /** The configuration it runs. */
  readonly config: string;
  /** http://ADDR:80 */
  readonly url: string;
  /** Each edge's status as HAProxy sees it: 'UP', 'DOWN', 'UP 1/2'... by server name. */
  serverStatus(): Promise<Record<string, string>>;
}

/**
 * HAProxy from the shipped deploy/haproxy/haproxy-edges.cfg, run on `host` in front of `edges`.
 * Rewritten only where a test host must differ: the server lines are the given edges (name and
 * address, port 5000); the health check's timing is `check` when given (the shipped
 * `inter 2s fall 3 rise 2` takes an edge out after about 6 s); its log goes to stderr, its stats
 * socket to a temporary folder, and the chroot, user and group lines are dropped (as in
 * test/helpers/proxies.ts). It listens on port 80 of its host as shipped (`bind :80`). Resolves
 * once its stats socket answers, which it does once it has loaded the file and bound its port.
 */
export async function startEdgeBalancer(
  owner: Owner,
  host: Host,
  /** Each edge's server name and where HAProxy finds it (a host name or address; port 5000). */
  edges: readonly { name: string; addr: string }[],
  { check }: { check?: string } = {},
): Promise<EdgeBalancer> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-haproxy-'));
  owner.after(() => rm(dir, { recursive: true, force: true }));
  let config = readFileSync(EDGE_CONFIGS.haproxy, 'utf8');
  config = rewrite(config, /^\s*(chroot|user|group)\s+.*\n/gm, '', 'chroot, user and group');
  config = rewrite(config, /^(\s*)log\s+\/dev\/log\s+(\S+)/gm, '$1log stderr format raw $2', 'log');
  config = rewrite(config, /(stats socket )\S+/g, `$1${join(dir, 'admin.sock')}`, 'stats socket');
  let first = true;
  config = rewrite(
    config,
    /^(\s*)server\s+\S+\s+[0-9.]+:5000\b.*\n/gm,
    (_m, indent) => {
      if (!first) return '';
      first = false;
      return edges.map((e) => `${indent}server ${e.name} ${e.addr}:5000\n`).join('');
    },
    'server lines',
  );
  if (check !== undefined) config = rewrite(config, /^(\s*default-server check) .*$/gm, `$1 ${check}`, 'check timing');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const proc = await host.spawn('haproxy', ['-db', '-f', file]);
  const up = await pollUntil(
    () => haproxyCommand({ dir }, 'show info'),
    (info) => /^Pid: /m.test(info),
    READY_TIMEOUT_MS,
  );
  if (up.ms === null) throw new Error(`haproxy did not start:\n${proc.output()}`);
  return {
    proc,
    dir,
    config,
    url: host.url(80, ''),
    async serverStatus() {
      const rows = await haproxyStats({ dir });
      return Object.fromEntries(rows.filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND').map((r) => [r.svname, r.status]));
    },
  };
}
