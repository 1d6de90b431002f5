/**
 * Camera tools run as child processes (`rpicam-vid`, `libcamera-vid`, `raspivid`): finding one
 * on PATH, supervising it (stderr kept for the error message, exit observed, stopped with SIGTERM
 * then SIGKILL, never left running after the server), and turning its MJPEG stdout into an async
 * generator of frames with a bounded queue. Shared by the libcamera and pi drivers.
 *
 * Outliving the server. A driver runs in the capture worker, and a worker's process 'exit'
 * handlers do not run when the main thread calls process.exit() or terminates the worker
 * (checked on Node 20), so a tool still running then would be orphaned. Three layers:
 *   1. the driver stops the tool when its generator finishes (abort, idle, failure, shutdown);
 *   2. the main thread keeps the pids of running tools (workers announce them on a
 *      BroadcastChannel) and SIGKILLs any still running when the process exits
 *      (`killCameraToolsOnExit`, called by the drivers' validate() at start);
 *   3. if the server is killed outright (SIGKILL), a tool that is writing dies on its next write:
 *      its stdout pipe has no reader, and libuv resets SIGPIPE to the default (terminate) in
 *      children it spawns.
 */

import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { DropLog } from './drop-log.js';
import { JpegStreamSplitter } from './jpeg-splitter.js';
import type { DriverContext } from '../types.js';

/** How long a tool gets to exit after SIGTERM before SIGKILL, ms. Camera.close() allows 1.5 s in all. */
export const KILL_GRACE_MS = 1000;
/** After 'exit', how long to wait for the tool's stdio to close (a grandchild may hold it), ms. */
const STDIO_CLOSE_MS = 250;
/** Frames held for a consumer that is behind; older ones are dropped (the newest frame matters). */
export const DEFAULT_QUEUE_FRAMES = 2;
/**
 * Largest frame assembled from a tool's output when the context does not say (no ring behind the
 * driver), bytes. With a ring, its slot size is the limit: nothing larger could be published.
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Longest stderr line kept for error messages, characters. */
const MAX_LINE_CHARS = 500;

/**
 * The absolute path of executable `name` in the first PATH directory that has it, or undefined.
 * Looks only (stat + access), never spawns. Empty PATH entries (the current directory) are skipped.
 */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      if (statSync(file).isFile()) {
        accessSync(file, constants.X_OK);
        return file;
      }
    } catch {
      // absent or not executable here: try the next directory
    }
  }
  return undefined;
}

// --- Killing tools the process would leave behind -----------------------------------------

const PIDS_CHANNEL = 'framering:camera-tool-pids';
interface PidMessage {
  pid: number;
  running: boolean;
}
/** Main thread: pids of camera tools running in any thread of this process. */
const runningPids = new Set<number>();
let exitHookInstalled = false;
let mainChannel: BroadcastChannel | null = null;
let workerChannel: BroadcastChannel | null = null;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: there is no time for SIGTERM and a grace period.
  process.once('exit', () => {
    for (const pid of runningPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Makes the main thread SIGKILL every camera tool still running when the process exits. Call it
 * in the main thread at start (drivers do, in validate()); idempotent, a no-op in a worker.
 */
export function killCameraToolsOnExit(): void {
  if (!isMainThread || mainChannel) return;
  mainChannel = new BroadcastChannel(PIDS_CHANNEL);
  mainChannel.unref(); // must not keep the process alive
  mainChannel.onmessage = (event: unknown) => {
    const { pid, running } = (event as { data: PidMessage }).data;
    if (running) runningPids.add(pid);
    else runningPids.delete(pid);
  };
  installExitHook();
}

function announce(pid: number, running: boolean): void {
  if (isMainThread) {
    // The driver runs in the main thread itself (an embedding without a capture worker).
    if (running) runningPids.add(pid);
    else runningPids.delete(pid);
    installExitHook();
    return;
  }
  if (!workerChannel) {
    workerChannel = new BroadcastChannel(PIDS_CHANNEL);
    workerChannel.unref();
  }
  workerChannel.postMessage({ pid, running } satisfies PidMessage);
}

// --- Supervising one child ------------------------------------------------------------------

/** How a child ended. `error` is set when it could not be started at all. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface SupervisedChildOptions {
  /** Called with every non-empty stderr line (camera tools log there). */
  onStderrLine?: (line: string) => void;
  /** SIGTERM to SIGKILL, ms (default KILL_GRACE_MS). */
  killGraceMs?: number;
}

/**
 * A child process this driver owns: its stderr is read line by line (the last line is kept for
 * the error message), its end is observed once, and stop() ends it for sure.
 */
export class SupervisedChild {
  /** Resolves once the child has exited and its stdio has closed (or could not start). Never rejects. */
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | null = null;
  private lastLine = '';
  private stopping = false;
  private readonly killGraceMs: number;

  constructor(
    readonly child: ChildProcess,
    /** The tool's name, for messages. */
    readonly name: string,
    options: SupervisedChildOptions = {},
  ) {
    this.killGraceMs = options.killGraceMs ?? KILL_GRACE_MS;
    const pid = child.pid;
    if (pid !== undefined) announce(pid, true);
    this.readStderr(options.onStderrLine);
    this.exited = new Promise<ChildExit>((resolve) => {
      let spawnError: Error | undefined;
      const settle = (exit: ChildExit): void => {
        if (this.exit) return;
        this.exit = exit;
        if (pid !== undefined) announce(pid, false);
        resolve(exit);
      };
      // 'close' comes after 'exit' once stdout and stderr have ended, so the last stderr line
      // has been read by then.
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) =>
        settle(spawnError ? { code: null, signal: null, error: spawnError } : { code, signal }),
      );
      child.once('exit', (code, signal) => {
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          settle({ code, signal });
        }, STDIO_CLOSE_MS).unref();
      });
      child.on('error', (err) => {
        // Emitted when the process could not be spawned (ENOENT, EACCES), or a kill failed.
        if (child.pid === undefined) {
          spawnError = err;
          settle({ code: null, signal: null, error: err });
        }
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the child has exited. */
  get running(): boolean {
    return this.exit === null;
  }

  /** The last non-empty line the child wrote to stderr ('' if none). */
  get lastStderrLine(): string {
    return this.lastLine;
  }

  /** One line for the log: "rpicam-vid exited with code 1: ERROR: *** no cameras available ***". */
  describeExit(exit: ChildExit): string {
    if (exit.error) return `${this.name} could not be started: ${exit.error.message}`;
    const how = exit.code !== null ? `exited with code ${exit.code}` : `was killed by ${exit.signal ?? 'a signal'}`;
    return `${this.name} ${how}${this.lastLine ? `: ${this.lastLine}` : ' (nothing on stderr)'}`;
  }

  /** Ends the child: SIGTERM, then SIGKILL if it is still running after the grace period. Idempotent. */
  stop(): Promise<ChildExit> {
    if (this.exit === null && !this.stopping) {
      this.stopping = true;
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (this.exit === null) this.child.kill('SIGKILL');
      }, this.killGraceMs);
      void this.exited.then(() => clearTimeout(timer));
    }
    return this.exited;
  }

  private readStderr(onLine: ((line: string) => void) | undefined): void {
    const stderr = this.child.stderr;
    if (!stderr) return;
    const decoder = new StringDecoder('utf8');
    let partial = '';
    const take = (line: string): void => {
      const trimmed = line.trim();
      if (trimmed === '') return;
      this.lastLine = trimmed.length > MAX_LINE_CHARS ? `${trimmed.slice(0, MAX_LINE_CHARS)}...` : trimmed;
      onLine?.(this.lastLine);
    };
    stderr.on('data', (chunk: Buffer | string) => {
      const lines = (partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split(/\r?\n|\r/);
      partial = lines.pop()!;
      if (partial.length > 4 * MAX_LINE_CHARS) partial = partial.slice(-4 * MAX_LINE_CHARS); // a line without end
      for (const line of lines) take(line);
    });
    stderr.on('end', () => {
      take(partial + decoder.end());
      partial = '';
    });
    stderr.on('error', () => {}); // the exit is what matters; a broken stderr pipe is not news
  }
}

// --- Frames from a byte stream --------------------------------------------------------------

export interface MjpegFramesOptions {
  /** Ends the generator (it returns) when aborted. */
  signal: AbortSignal;
  /**
   * Frames with a broken structure are counted with context.countDrop('corrupt'), those larger
   * than the limit with 'oversize'; both are logged once per burst (drop-log.ts).
   */
  context: DriverContext;
  /**
   * Settles when the source is finished for good (the tool exited); its value is the error the
   * generator throws then, after yielding the frames already queued.
   */
  finished: Promise<Error>;
  /** Frames held for a consumer that is behind (default DEFAULT_QUEUE_FRAMES). */
  queueFrames?: number;
  /**
   * Largest frame assembled, bytes (default: context.maxFrameBytes, the ring's slot, else
   * DEFAULT_MAX_FRAME_BYTES); larger ones are dropped when they reach it, never held whole.
   */
  maxFrameBytes?: number;
}

/**
 * Yields the JPEG frames of an MJPEG byte stream (split with JpegStreamSplitter, chunk by chunk)
 * until `signal` aborts (returns) or `finished` settles (throws its error). The stream is read as
 * fast as it comes, never paused: a tool blocked on a full pipe would only deliver stale frames
 * later. When the consumer is behind, the queue keeps the newest `queueFrames` frames and drops
 * older ones, so memory stays bounded (queue + one partial frame) and the next frame yielded is a
 * fresh one. Does not stop the source; the caller does, in its finally.
 */
export async function* mjpegFrames(bytes: Readable, options: MjpegFramesOptions): AsyncGenerator<Buffer, void, undefined> {
  const { signal, context } = options;
  const capacity = Math.max(1, options.queueFrames ?? DEFAULT_QUEUE_FRAMES);
  const queue: Buffer[] = [];
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  let behind = 0; // frames dropped because the consumer was behind
  const maxFrameBytes = options.maxFrameBytes ?? context.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const drops = new DropLog(context, "from the camera's output");
  const splitter = new JpegStreamSplitter((jpeg) => {
    drops.frame();
    if (queue.length >= capacity) {
      queue.shift();
      behind++;
    }
    queue.push(jpeg);
    notify();
  }, maxFrameBytes);
  let corrupt = 0;
  let oversize = 0;
  const onData = (chunk: Buffer): void => {
    splitter.push(chunk);
    // The splitter counts its drops rather than calling back: report what this chunk added (a
    // good frame in the same chunk may have ended the burst first; the order within one chunk
    // matters little for a log line).
    const { stats } = splitter;
    if (stats.corrupt > corrupt) {
      drops.drop('corrupt', 'a JPEG whose marker structure is broken', stats.corrupt - corrupt);
      corrupt = stats.corrupt;
    }
    if (stats.oversize > oversize) {
      drops.drop('oversize', `a JPEG larger than ${maxFrameBytes} bytes (--max-frame-bytes)`, stats.oversize - oversize);
      oversize = stats.oversize;
    }
  };
  let failure: Error | null = null;
  const onError = (err: Error): void => {
    failure ??= new Error(`reading the camera's output failed: ${err.message}`);
    notify();
  };
  bytes.on('data', onData);
  bytes.on('error', onError);
  void options.finished.then((err) => {
    failure ??= err;
    notify();
  });
  signal.addEventListener('abort', notify);
  try {
    for (;;) {
      if (signal.aborted) return;
      const frame = queue.shift();
      if (frame) {
        yield frame;
        continue;
      }
      if (failure) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    bytes.off('data', onData);
    bytes.off('error', onError);
    bytes.on('error', () => {}); // late errors after we stopped listening must not crash the worker
    signal.removeEventListener('abort', notify);
    drops.end();
    if (behind > 0) context.log('debug', `dropped ${behind} frame(s) the capture loop was too slow to take`);
  }
}
