/**
 * Fake camera tools for driver tests: puts chosen fakes from test/fixtures/bin/ (rpicam-vid,
 * libcamera-vid, raspivid; see test/fixtures/fake-camera-tool.mjs) alone on PATH, sets their
 * controls, and reads back what they recorded (argv, pid, how they ended). Also: whether a pid
 * is still running. A server with the fakes on PATH: startServerWithFakes in ./server.js; frames
 * shaped like raspivid's: raspividStyle in ./jpeg.js.
 */

import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './paths.js';

const BIN = new URL('test/fixtures/bin/', REPO_ROOT);

/** Folders of fake tools, one tool each, to compose PATH from. */
export const FAKE_BIN = {
  'rpicam-vid': fileURLToPath(new URL('rpicam/', BIN)),
  'libcamera-vid': fileURLToPath(new URL('libcamera/', BIN)),
  raspivid: fileURLToPath(new URL('legacy/', BIN)),
} as const;
export type FakeToolName = keyof typeof FAKE_BIN;

/** The fake tools' controls (see fake-camera-tool.mjs). */
export interface FakeControls {
  /** Folder of *.jpg frames to cycle (default assets/emulated). */
  frames?: string;
  exitAfter?: number;
  stallAfter?: number;
  corruptEvery?: number;
  ignoreSigterm?: boolean;
}

export interface FakeEvent {
  event: 'start' | 'signal' | 'exit' | 'stall';
  tool: string;
  pid: number;
  argv?: string[];
  signal?: string;
  why?: string;
}

export interface FakeTools {
  /** The environment the server (and so the tools) runs with: PATH and the controls. */
  readonly env: NodeJS.ProcessEnv;
  /** Everything the fakes recorded so far. */
  events(): FakeEvent[];
  /** The start records, oldest first. */
  starts(): FakeEvent[];
}

const CONTROL_VARS = [
  'FAKE_CAMERA_RECORD',
  'FAKE_CAMERA_FRAMES',
  'FAKE_CAMERA_EXIT_AFTER',
  'FAKE_CAMERA_STALL_AFTER',
  'FAKE_CAMERA_CORRUPT_EVERY',
  'FAKE_CAMERA_IGNORE_SIGTERM',
  'PATH',
];

/**
 * Makes `tools` (in that order) the only camera tools on PATH for this test: PATH becomes their
 * folders plus a folder holding only `node` (for the fakes' `#!/usr/bin/env node`), so a real
 * rpicam-vid on the machine is never found. Sets process.env (read by an in-process server's
 * validate() and copied by its capture worker when created); restored, and any fake still
 * running killed, when the test ends.
 */
export async function useFakeTools(t: TestContext, tools: readonly FakeToolName[], controls: FakeControls = {}): Promise<FakeTools> {
  const { fakes, cleanup } = await setUpFakeTools(tools, controls);
  t.after(cleanup);
  return fakes;
}

/** Puts the fakes on PATH; `cleanup` restores the environment and kills any fake still running. */
export async function setUpFakeTools(
  tools: readonly FakeToolName[],
  controls: FakeControls,
): Promise<{ fakes: FakeTools; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-fake-camera-'));
  const nodeBin = join(dir, 'node-bin');
  await mkdir(nodeBin);
  await symlink(process.execPath, join(nodeBin, 'node'));
  const recordFile = join(dir, 'record.jsonl');
  await writeFile(recordFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: [...tools.map((name) => FAKE_BIN[name]), nodeBin].join(':'),
    FAKE_CAMERA_RECORD: recordFile,
  };
  if (controls.frames !== undefined) env.FAKE_CAMERA_FRAMES = controls.frames;
  if (controls.exitAfter !== undefined) env.FAKE_CAMERA_EXIT_AFTER = String(controls.exitAfter);
  if (controls.stallAfter !== undefined) env.FAKE_CAMERA_STALL_AFTER = String(controls.stallAfter);
  if (controls.corruptEvery !== undefined) env.FAKE_CAMERA_CORRUPT_EVERY = String(controls.corruptEvery);
  if (controls.ignoreSigterm) env.FAKE_CAMERA_IGNORE_SIGTERM = '1';

  const saved = Object.fromEntries(CONTROL_VARS.map((k) => [k, process.env[k]]));
  for (const k of CONTROL_VARS) delete process.env[k];
  Object.assign(process.env, env);

  const events = (): FakeEvent[] =>
    readFileSync(recordFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as FakeEvent);
  const cleanup = async (): Promise<void> => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    for (const e of events()) if (e.event === 'start' && isRunning(e.pid)) process.kill(e.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  return { fakes: { env, events, starts: () => events().filter((e) => e.event === 'start') }, cleanup };
}

/** True while `pid` is a running process (a zombie, exited but not reaped, counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false; // gone between the two checks (or no /proc: kill(0) said it was there)
  }
}

/**
 * Resolves once `pid` is gone; rejects after `timeoutMs`. Polls (every 20 ms): nothing signals
 * the end of a process that is not our child.
 */
export async function waitUntilGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (isRunning(pid)) {
    if (performance.now() > deadline) throw new Error(`process ${pid} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
