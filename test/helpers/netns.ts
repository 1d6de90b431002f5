/**
 * A private test host: a network namespace joined to this one by a veth pair, with a /30 in the
 * link-local range on each end (never 169.254.169.x, cloud metadata). Tests run a client inside
 * it to put a real network path between it and the server: cut it, or limit its rate. Root and
 * iproute2 only; everything is deleted when the test ends.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestLink {
  ns: string;
  /** Interface names on this side and in the namespace. */
  hostEnd: string;
  nsEnd: string;
  /** The address of this side (servers listen on it) and of the namespace's side. */
  serverAddr: string;
  clientAddr: string;
  ip(...args: string[]): Promise<unknown>;
  /** Runs a Node.js script inside the namespace (killed when the test ends). */
  node(script: string, env: NodeJS.ProcessEnv): ChildProcess;
}

/** Creates the namespace and its link; `rate` (e.g. '2mbit') shapes traffic towards it. */
export async function createTestLink(t: TestContext, { rate }: { rate?: string } = {}): Promise<TestLink> {
  // Unique per run: other suites may be setting up their own at the same time.
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 1000)}`;
  const ns = `framering-${tag}`;
  const hostEnd = `fr${tag}a`; // interface names: 15 characters at most
  const nsEnd = `fr${tag}b`;
  const x = 1 + Math.floor(Math.random() * 167);
  const y = 4 * Math.floor(Math.random() * 63);
  const serverAddr = `169.254.${x}.${y + 1}`;
  const clientAddr = `169.254.${x}.${y + 2}`;
  const ip = (...args: string[]) => run('ip', args, { timeout: 10_000 });
  t.after(async () => {
    // Deleting the namespace deletes its end of the pair, and with it the other end.
    await ip('netns', 'del', ns).catch(() => {});
    await ip('link', 'del', hostEnd).catch(() => {});
  });
  await ip('netns', 'add', ns);
  await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd);
  await ip('link', 'set', nsEnd, 'netns', ns);
  await ip('addr', 'add', `${serverAddr}/30`, 'dev', hostEnd);
  await ip('link', 'set', hostEnd, 'up');
  await ip('-n', ns, 'addr', 'add', `${clientAddr}/30`, 'dev', nsEnd);
  await ip('-n', ns, 'link', 'set', nsEnd, 'up');
  if (rate !== undefined) {
    // A token bucket on the way to the namespace: the link is this slow, with a short queue of its own.
    await run('tc', ['qdisc', 'add', 'dev', hostEnd, 'root', 'tbf', 'rate', rate, 'burst', '32kb', 'latency', '50ms'], { timeout: 10_000 });
  }
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  return {
    ns,
    hostEnd,
    nsEnd,
    serverAddr,
    clientAddr,
    ip,
    node(script, env) {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return child;
    },
  };
}
