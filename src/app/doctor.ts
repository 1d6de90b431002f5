/**
 * `framering doctor`: what this machine offers framering and whether the configured cameras can
 * start, one fact per line (or one JSON document with --json), for someone setting up a
 * Raspberry Pi and for support requests.
 *
 * It reads the same options, environment and config file as the server (parseConfig) and runs the
 * same start checks (chooseFrontEnd, validateCameras), but starts nothing: no capture, no port.
 * Native modules are loaded in a child process: a broken one can take down the process that loads
 * it (the OpenCV binding segfaults when a second thread loads it, FACTS.md; a binding built for
 * another Node.js ABI only throws), and doctor has to report that, not die of it.
 *
 * Exit status is the one the server would have at start: 0 when every configured camera can
 * start, 1 when something a camera or the front end needs is missing, 2 for invalid options.
 */

import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, machine, release, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, type ParseResult, parseConfig } from './config.js';
import { findOnPath } from '../drivers/mjpeg/child-process.js';
import { TOOLS as LIBCAMERA_TOOLS } from '../drivers/libcamera.js';
import { TOOL as RASPIVID } from '../drivers/pi.js';
import { BUILTIN_DRIVERS } from '../drivers/registry.js';
import { ConfigError, describeError, UnavailableError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { validateCameras } from './cameras.js';
import { chooseFrontEnd, resolveHttpThreads } from './front-end-choice.js';
import { VERSION } from './version.js';
import type { FrontEndName } from '../server/front-end.js';
import { type UwsCandidate, type UwsSearch, uwsForThisProcess } from '../server/uws/binary.js';

/** How long a child process may take to load a native module, ms (the first load on a Pi is slow). */
const PROBE_TIMEOUT_MS = 30_000;
const OPENCV = '@u4/opencv4nodejs';
const SHARP = 'sharp';
const PI_LIBRARY = 'pi-camera-connect';
/** Process architectures that are 32-bit (Node's process.arch names). */
const ARCH_32 = new Set(['arm', 'ia32', 'mips', 'mipsel', 'ppc']);
/** ARM cores of Raspberry Pi boards by their /proc/cpuinfo "CPU part", for when os.cpus() has no model. */
const ARM_PARTS: Record<string, string> = {
  '0xb76': 'ARM1176',
  '0xc07': 'Cortex-A7',
  '0xd03': 'Cortex-A53',
  '0xd08': 'Cortex-A72',
  '0xd0b': 'Cortex-A76',
};

/** A native module as loaded in a child process. */
export interface ModuleProbe {
  /** Resolvable from framering's own folder. */
  installed: boolean;
  loads: boolean;
  /** What the module says of its version (OpenCV's, libvips'), if it loaded. */
  version: string | null;
  error: string | null;
}

/** A device node and what this user may do with it. */
export interface DeviceNode {
  path: string;
  /** The kernel's name for it (V4L2 card, media model), where it has one. */
  name: string | null;
  readable: boolean;
  writable: boolean;
}

export interface CameraCheck {
  name: string;
  driver: string;
  ok: boolean;
  /** One line: why it cannot start. */
  error: string | null;
  /** The error is an invalid option (the server would exit with 2). */
  invalidOption: boolean;
}

export interface DoctorReport {
  framering: string;
  platform: string;
  /** Node's name for the userland architecture (arm = 32-bit armhf). */
  arch: string;
  bits: 32 | 64;
  /** The kernel's machine name: aarch64 also under a 32-bit userland on a 64-bit kernel. */
  machine: string;
  os: string | null;
  kernel: string;
  /** The board's model from the device tree (Raspberry Pi), else null. */
  board: string | null;
  cpu: { model: string; cores: number };
  memoryBytes: number;
  node: { version: string; abi: string; glibc: string | null };
  /** The uWebSockets.js binary picked, and what became of every package looked at (findUws). */
  uws: {
    loads: boolean;
    package: string | null;
    version: string | null;
    binary: string;
    path: string | null;
    error: string | null;
    candidates: Pick<UwsCandidate, 'package' | 'version' | 'outcome' | 'reason' | 'origin'>[];
  };
  frontEnd: { name: FrontEndName | null; why: string; error: string | null };
  /** HTTP threads the server would run (null when no front end can run). */
  httpThreads: { count: number | null; why: string; error: string | null };
  modules: { opencv: ModuleProbe; sharp: ModuleProbe };
  tools: { name: string; path: string | null }[];
  drivers: { name: string; usable: boolean; detail: string }[];
  videoDevices: DeviceNode[];
  /** Other nodes camera stacks open: /dev/media*, /dev/v4l-subdev*, /dev/dma_heap/*, /dev/vchiq. */
  otherCameraNodes: DeviceNode[];
  user: { name: string; uid: number; inVideoGroup: boolean; videoGroupExists: boolean };
  config: string | null;
  cameras: CameraCheck[];
  /** Cross-camera problems (two cameras with one name, two OpenCV cameras), else null. */
  camerasError: string | null;
  status: 0 | 1 | 2;
}

/** Where device nodes and their sysfs descriptions live (tests point these at a fake tree). */
export interface DeviceRoots {
  dev: string;
  sys: string;
}

const SYSTEM_ROOTS: DeviceRoots = { dev: '/dev', sys: '/sys' };

// --- Facts about the machine ----------------------------------------------------------------

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** PRETTY_NAME from os-release(5), which every systemd-era distribution has. */
function osName(): string | null {
  const text = readText('/etc/os-release') ?? readText('/usr/lib/os-release');
  const m = text && /^PRETTY_NAME=(?:"([^"]*)"|'([^']*)'|(.*))$/m.exec(text);
  return m ? (m[1] ?? m[2] ?? m[3] ?? '').trim() || null : null;
}

function boardModel(): string | null {
  // A NUL-terminated string in the device tree (ARM boards only).
  const text = readText('/sys/firmware/devicetree/base/model') ?? readText('/proc/device-tree/model');
  const model = text?.replace(/\0+$/, '').trim();
  return model || null;
}

/**
 * libuv names the CPU from /proc/cpuinfo's "model name", which the 64-bit ARM kernel does not
 * write; fall back to the core's part number, which it does.
 */
function cpuModel(): string {
  const model = cpus()[0]?.model?.trim();
  if (model && model !== 'unknown') return model;
  const part = /^CPU part\s*:\s*(0x[0-9a-f]+)/im.exec(readText('/proc/cpuinfo') ?? '')?.[1]?.toLowerCase();
  if (part) return ARM_PARTS[part] ?? `ARM core ${part}`;
  return 'unknown';
}

function glibcVersion(): string | null {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? null;
}

function userFacts(groupFile = '/etc/group'): DoctorReport['user'] {
  const uid = process.getuid?.() ?? -1;
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = `uid ${uid}`; // no passwd entry (a container's arbitrary uid)
  }
  const line = (readText(groupFile) ?? '').split('\n').find((l) => l.startsWith('video:'));
  const gid = line ? Number(line.split(':')[2]) : NaN;
  const groups = [...(process.getgroups?.() ?? []), process.getegid?.() ?? -1];
  return { name, uid, inVideoGroup: Number.isInteger(gid) && groups.includes(gid), videoGroupExists: line !== undefined };
}

function access(path: string): { readable: boolean; writable: boolean } {
  const can = (mode: number): boolean => {
    try {
      accessSync(path, mode);
      return true;
    } catch {
      return false;
    }
  };
  return { readable: can(constants.R_OK), writable: can(constants.W_OK) };
}

/** Entries of `dir` matching `re`, in natural order (video2 before video10); [] if unreadable. */
function entries(dir: string, re: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => re.test(n))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

function describeNode(path: string, nameFile: string | null): DeviceNode {
  const name = nameFile ? readText(nameFile)?.trim() || null : null;
  return { path, name, ...access(path) };
}

/**
 * The V4L2 video devices with their names, and the other nodes libcamera and the legacy stack
 * open (media controllers, sensor subdevices, DMA heaps, the VideoCore's vchiq), each with whether
 * this user can open it for reading and writing.
 */
export function listDeviceNodes(roots: DeviceRoots = SYSTEM_ROOTS): { video: DeviceNode[]; other: DeviceNode[] } {
  const v4l = join(roots.sys, 'class', 'video4linux');
  const video = entries(roots.dev, /^video[0-9]+$/).map((n) => describeNode(join(roots.dev, n), join(v4l, n, 'name')));
  const other = [
    ...entries(roots.dev, /^media[0-9]+$/).map((n) =>
      describeNode(join(roots.dev, n), join(roots.sys, 'bus', 'media', 'devices', n, 'model')),
    ),
    ...entries(roots.dev, /^v4l-subdev[0-9]+$/).map((n) => describeNode(join(roots.dev, n), join(v4l, n, 'name'))),
    ...entries(join(roots.dev, 'dma_heap'), /./).map((n) => describeNode(join(roots.dev, 'dma_heap', n), null)),
    ...entries(roots.dev, /^vchiq$/).map((n) => describeNode(join(roots.dev, n), null)),
  ];
  return { video, other };
}

// --- Native modules, loaded in a child ------------------------------------------------------

/**
 * Runs in the child (CommonJS, `node -e`): loads the module from framering's folder and reports
 * over IPC. OPENCV4NODEJS_DISABLE_AUTOBUILD stops the binding from trying to build OpenCV.
 */
const PROBE_SCRIPT = `
process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD = '1';
const [from, name] = process.argv.slice(1);
let result;
try {
  const m = require('node:module').createRequire(from)(name);
  const v = m.version && typeof m.version === 'object' ? 'OpenCV ' + [m.version.major, m.version.minor, m.version.revision].join('.')
    : m.versions && m.versions.vips ? 'libvips ' + m.versions.vips : null;
  result = { loads: true, version: v, error: null };
} catch (err) {
  result = { loads: false, version: null, error: String(err && err.message ? err.message : err).split('\\n')[0] };
}
process.send(result, () => process.disconnect());
`;

function isInstalled(name: string, from = import.meta.url): boolean {
  try {
    createRequire(from).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads `name`, resolved from `from` (framering's own folder), in a child process; never throws,
 * whatever the child does (crash, hang past `timeoutMs`).
 */
export async function probeModule(name: string, { from = import.meta.url, timeoutMs = PROBE_TIMEOUT_MS } = {}): Promise<ModuleProbe> {
  if (!isInstalled(name, from)) return { installed: false, loads: false, version: null, error: 'not installed' };
  const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, from, name], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let lastLine = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const lines = d
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (lines.length) lastLine = lines[lines.length - 1]!.slice(0, 300);
  });
  let message: Omit<ModuleProbe, 'installed'> | null = null;
  child.on('message', (m) => (message = m as Omit<ModuleProbe, 'installed'>));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([null, null]));
    child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve([c, s]));
  });
  clearTimeout(timer);
  if (message) return { installed: true, ...(message as Omit<ModuleProbe, 'installed'>) };
  const how = timedOut
    ? `did not finish loading within ${timeoutMs / 1000} s`
    : signal
      ? `crashed while loading (${signal})`
      : `exited with code ${code} while loading`;
  return { installed: true, loads: false, version: null, error: lastLine ? `${how}: ${lastLine}` : how };
}

// --- Front end ------------------------------------------------------------------------------

/** Which front end the server would run here, and why; `find` looks for uWebSockets.js (injectable for tests). */
export function frontEndFacts(
  requested: FrontEndName | undefined,
  find: () => UwsSearch = uwsForThisProcess,
): Pick<DoctorReport, 'uws' | 'frontEnd'> {
  const search = find();
  const uws: DoctorReport['uws'] = {
    loads: search.module !== null,
    package: search.picked?.package ?? null,
    version: search.picked?.version ?? null,
    binary: search.candidates[0]?.binary ?? '',
    path: search.picked?.path ?? null,
    error: search.module === null ? search.summary : null,
    candidates: search.candidates.map(({ package: name, version, outcome, reason, origin }) => ({
      package: name,
      version,
      outcome,
      reason,
      origin,
    })),
  };
  const probe = (): void => {
    if (search.module === null) throw new UnavailableError(search.summary);
  };
  // chooseFrontEnd logs its fallback as a warning for the server's log; the report says it instead.
  const log = createLogger('warn', () => {});
  try {
    const name = chooseFrontEnd(requested, probe, log);
    const why =
      requested === 'node'
        ? 'node (node:http), as asked with --http node'
        : name === 'uws'
          ? 'uws (uWebSockets.js)'
          : 'node (node:http), because uWebSockets.js cannot load here; it costs more CPU per viewer and serves from one thread';
    return { uws, frontEnd: { name, why, error: null } };
  } catch (err) {
    return { uws, frontEnd: { name: null, why: 'none: --http uws was asked for and cannot load', error: describeError(err) } };
  }
}

/** The server's own choice of HTTP thread count for this front end (resolveHttpThreads). */
function httpThreadsFacts(config: Config, frontEnd: FrontEndName | null): DoctorReport['httpThreads'] & { invalid: boolean } {
  if (frontEnd === null) return { count: null, why: 'no front end', error: null, invalid: false };
  const warnings: string[] = [];
  const log = createLogger('warn', (line) => warnings.push(line));
  try {
    const count = resolveHttpThreads(config, frontEnd, log);
    // The warning, if any, says why a request for more threads was declined.
    const declined = warnings[0]?.replace(/^\S+ warn +/, '').trim();
    const why =
      declined ??
      (config.httpThreads !== undefined
        ? 'as asked with --http-threads'
        : frontEnd === 'uws'
          ? `default for ${availableParallelism()} cores`
          : 'node:http serves from one thread');
    return { count, why, error: null, invalid: false };
  } catch (err) {
    return { count: null, why: 'invalid', error: describeError(err), invalid: err instanceof ConfigError };
  }
}

// --- Drivers and cameras --------------------------------------------------------------------

function driverFacts(tools: DoctorReport['tools'], modules: DoctorReport['modules']): DoctorReport['drivers'] {
  const path = (name: string): string | null => tools.find((t) => t.name === name)?.path ?? null;
  const moduleDetail = (label: string, p: ModuleProbe): string =>
    p.loads
      ? `${label} loads${p.version ? ` (${p.version})` : ''}`
      : !p.installed
        ? `${label} is not installed`
        : `${label} is installed but does not load: ${p.error}`;
  const libcamera = LIBCAMERA_TOOLS.map((t) => ({ t, file: path(t) })).find((x) => x.file);
  const piLibrary = isInstalled(PI_LIBRARY);
  const facts: Record<string, { usable: boolean; detail: string }> = {
    emulated: { usable: true, detail: 'built in' },
    files: { usable: true, detail: 'built in (--source FOLDER of JPEGs)' },
    http: { usable: true, detail: 'built in (--source URL of an MJPEG stream)' },
    synthetic: {
      usable: modules.sharp.loads,
      detail: `${moduleDetail('sharp', modules.sharp)}${modules.sharp.loads ? '' : ' (it comes with npm ci)'}`,
    },
    opencv: {
      usable: modules.opencv.loads,
      detail: `${moduleDetail(`the OpenCV binding ${OPENCV}`, modules.opencv)}${modules.opencv.installed ? '' : ': sudo apt-get install libopencv-dev, then npm run install:opencv'}`,
    },
    libcamera: libcamera
      ? { usable: true, detail: `${libcamera.t} at ${libcamera.file}` }
      : { usable: false, detail: 'neither rpicam-vid nor libcamera-vid is on PATH (sudo apt install rpicam-apps)' },
    pi: !path(RASPIVID)
      ? { usable: false, detail: 'raspivid is not on PATH (legacy camera stack only; on Bookworm and later use libcamera)' }
      : !piLibrary
        ? { usable: false, detail: `raspivid found, but the ${PI_LIBRARY} package is not installed` }
        : { usable: true, detail: `raspivid at ${path(RASPIVID)}` },
  };
  return BUILTIN_DRIVERS.map((name) => ({ name, ...(facts[name] ?? { usable: true, detail: 'built in' }) }));
}

/**
 * Each camera through the server's own start check, alone (so that every camera gets its own
 * answer), then all together for the rules across cameras. A camera whose native module is
 * installed but does not load passes the server's check (which only resolves the module, to keep
 * the binding out of the main thread) yet would fail at its first viewer: doctor says so.
 */
async function checkCameras(
  config: Config,
  modules: DoctorReport['modules'],
): Promise<{ cameras: CameraCheck[]; camerasError: string | null; invalid: boolean }> {
  const cameras: CameraCheck[] = [];
  for (const c of config.cameras) {
    const check: CameraCheck = { name: c.name, driver: c.driver, ok: true, error: null, invalidOption: false };
    try {
      await validateCameras({ ...config, cameras: [c] });
      const native = c.driver === 'opencv' ? modules.opencv : c.driver === 'synthetic' ? modules.sharp : null;
      if (native && !native.loads) {
        check.ok = false;
        check.error = `${c.driver === 'opencv' ? OPENCV : SHARP} does not load: ${native.error}`;
      }
    } catch (err) {
      check.ok = false;
      check.error = describeError(err);
      check.invalidOption = err instanceof ConfigError;
    }
    cameras.push(check);
  }
  let camerasError: string | null = null;
  let invalid = cameras.some((c) => c.invalidOption);
  if (cameras.every((c) => c.ok)) {
    try {
      await validateCameras(config);
    } catch (err) {
      camerasError = describeError(err);
      invalid ||= err instanceof ConfigError;
    }
  }
  return { cameras, camerasError, invalid };
}

/** The --config file in effect (command line, else FRAMERING_CONFIG), for the report. */
function configFile(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string' } }, strict: false, allowPositionals: true });
  return typeof values.config === 'string' ? values.config : env.FRAMERING_CONFIG || null;
}

/** Gathers the whole report for a parsed configuration. */
export async function collectReport(
  config: Config,
  argv: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<DoctorReport> {
  const [opencv, sharp] = await Promise.all([probeModule(OPENCV), probeModule(SHARP)]);
  const modules = { opencv, sharp };
  const tools = [...LIBCAMERA_TOOLS, RASPIVID].map((name) => ({ name, path: findOnPath(name, env.PATH ?? '') ?? null }));
  const { uws, frontEnd } = frontEndFacts(config.http);
  const { invalid: threadsInvalid, ...httpThreads } = httpThreadsFacts(config, frontEnd.name);
  const devices = listDeviceNodes();
  const { cameras, camerasError, invalid: camerasInvalid } = await checkCameras(config, modules);
  const invalid = threadsInvalid || camerasInvalid;
  const failed = frontEnd.error !== null || httpThreads.error !== null || camerasError !== null || cameras.some((c) => !c.ok);
  return {
    framering: VERSION,
    platform: process.platform,
    arch: process.arch,
    bits: ARCH_32.has(process.arch) ? 32 : 64,
    machine: machine(),
    os: osName(),
    kernel: release(),
    board: boardModel(),
    cpu: { model: cpuModel(), cores: availableParallelism() },
    memoryBytes: totalmem(),
    node: { version: process.versions.node, abi: process.versions.modules, glibc: glibcVersion() },
    uws,
    frontEnd,
    httpThreads,
    modules,
    tools,
    drivers: driverFacts(tools, modules),
    videoDevices: devices.video,
    otherCameraNodes: devices.other,
    user: userFacts(),
    config: configFile(argv, env),
    cameras,
    camerasError,
    status: invalid ? 2 : failed ? 1 : 0,
  };
}

// --- Output ---------------------------------------------------------------------------------

function accessText(d: DeviceNode): string {
  if (d.readable && d.writable) return 'read/write ok';
  if (d.readable) return 'read only: cannot open it for capture';
  return 'no access';
}

function deviceLine(d: DeviceNode): string {
  return `${d.path}${d.name ? ` (${d.name})` : ''}: ${accessText(d)}`;
}

/** The report as lines of `label: value`, for a person. */
export function formatReport(r: DoctorReport): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: string): void => void rows.push([label, value]);
  add('framering', r.framering);
  add('platform', r.platform);
  const kernelBits = /64/.test(r.machine) ? 64 : 32;
  add(
    'architecture',
    `${r.arch}, ${r.bits}-bit${r.bits !== kernelBits ? ` userland on a ${kernelBits}-bit kernel (${r.machine})` : ` (${r.machine})`}`,
  );
  add('OS', `${r.os ?? 'unknown'}, kernel ${r.kernel}`);
  if (r.board) add('board', r.board);
  add('CPU', `${r.cpu.model}, ${r.cpu.cores} cores`);
  add('memory', `${(r.memoryBytes / 2 ** 30).toFixed(1)} GiB`);
  add('Node.js', `${r.node.version}, ABI ${r.node.abi}${r.node.glibc ? `, glibc ${r.node.glibc}` : ''}`);
  add(
    'uWebSockets.js',
    r.uws.loads ? `native binary loads: ${r.uws.package} ${r.uws.version} (${r.uws.path})` : `does not load: ${r.uws.error}`,
  );
  for (const c of r.uws.candidates)
    if (c.outcome !== 'loaded') add('  uWS package', `${c.package}${c.version ? ` ${c.version}` : ''}: ${c.reason}`);
  add('front end', r.frontEnd.error ? `${r.frontEnd.why}: ${r.frontEnd.error}` : r.frontEnd.why);
  if (r.httpThreads.error) add('HTTP threads', r.httpThreads.error);
  else if (r.httpThreads.count !== null) add('HTTP threads', `${r.httpThreads.count} (${r.httpThreads.why})`);
  for (const t of r.tools) add(t.name, t.path ? `found: ${t.path}` : 'not found on PATH');
  for (const d of r.drivers) add(`driver ${d.name}`, `${d.usable ? 'usable' : 'not usable'}: ${d.detail}`);
  if (r.videoDevices.length === 0) add('video devices', 'none');
  for (const d of r.videoDevices) add('video device', deviceLine(d));
  for (const d of r.otherCameraNodes) add('camera node', deviceLine(d));
  const video = !r.user.videoGroupExists
    ? 'there is no video group'
    : r.user.inVideoGroup
      ? 'in the video group'
      : 'not in the video group';
  add('user', `${r.user.name} (uid ${r.user.uid}), ${video}${r.user.uid === 0 ? ' (root opens any device)' : ''}`);
  add('config file', r.config ?? 'none');
  for (const c of r.cameras) add(`camera ${c.name}`, `${c.driver}: ${c.ok ? 'ok' : c.error}`);
  if (r.camerasError) add('cameras', r.camerasError);
  add(
    'result',
    r.status === 0
      ? 'every camera can start'
      : r.status === 2
        ? 'invalid options: the server would not start'
        : 'the server cannot start as configured',
  );
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `${rows.map(([l, v]) => `${`${l}:`.padEnd(width)}${v}`).join('\n')}\n`;
}

const HELP = `Usage: framering doctor [--json] [options]

Checks this machine for framering: platform, Node.js, uWebSockets.js, the camera drivers usable
here, video devices and access to them, and whether each configured camera can start. Takes the
server's options, environment variables and --config file (see framering --help).

  --json    print the report as one JSON document

Exit status: 0 every camera can start, 1 something it needs is missing, 2 invalid options.
`;

/**
 * Runs `framering doctor` with `argv` (the arguments after "doctor"); returns the exit status.
 * Invalid options print one line on stderr (exit 2), like the server.
 */
export async function runDoctor(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  let parsed: ParseResult;
  try {
    parsed = parseConfig(args, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`framering: ${err.message}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const report = await collectReport(parsed.config, args, env);
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.status;
}
