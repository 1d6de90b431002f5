/**
 * Several cameras in one server, on both front ends (`--http uws` and `--http node`):
 * `--camera NAME=DRIVER[,option=value...]` repeated, or a --config file (YAML or JSON). Each
 * camera has /cameras/NAME/video_feed and /cameras/NAME/snapshot; the first one also answers
 * /video_feed and /snapshot; the page shows them all; invalid camera specs stop the command
 * with exit status 2 and one line.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { runCli, startTestServer, type TestServer } from '../helpers/server.js';
import type { MjpegClient } from '../helpers/mjpeg-client.js';
import { fetchOnce, FRONT_ENDS, json, parsePrometheus, sampleValue } from '../helpers/http.js';
import { createJpegFolder, loadEmulatedImages } from '../helpers/jpeg.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-cameras-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function cameraNamed(ts: TestServer, name: string) {
  const camera = ts.server.cameras.find((c) => c.name === name);
  assert.ok(camera, `no camera named ${name}`);
  return camera;
}

/** Opens a stream on `path` and resolves with its first `n` frames' bodies. */
async function framesOf(ts: TestServer, path: string, n: number): Promise<{ client: MjpegClient; bodies: Buffer[] }> {
  const client = await ts.connect({ path });
  assert.equal(client.status, 200, `${path}: ${client.describe()}`);
  const frames = await client.waitForFrames(n, { timeoutMs: 5000 });
  return { client, bodies: frames.slice(0, n).map((f) => f.body) };
}

for (const http of FRONT_ENDS) {
  describe(`several cameras (--http ${http})`, () => {
    test('--camera a=emulated --camera b=files,source=DIR: each path serves its own camera', { timeout: 20_000 }, async (t) => {
      const emulated = await loadEmulatedImages();
      const { dir, frames: files } = await createJpegFolder(t, 3, 3000);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--idle-timeout',
        '0.3',
        '--camera',
        'a=emulated,fps=10',
        '--camera',
        `b=files,source=${dir},fps=30`,
      ]);
      assert.deepEqual(
        ts.server.cameras.map((c) => [c.name, c.driver]),
        [
          ['a', 'emulated'],
          ['b', 'files'],
        ],
      );
      const a = cameraNamed(ts, 'a');
      const b = cameraNamed(ts, 'b');
      const isEmulated = (body: Buffer) => emulated.some((img) => img.equals(body));
      const isFile = (body: Buffer) => files.some((f) => f.equals(body));

      // Watching b starts b only.
      const bStream = await framesOf(ts, '/cameras/b/video_feed', 4);
      assert.ok(bStream.bodies.every(isFile), "/cameras/b/video_feed sent frames that are not b's files");
      assert.equal(a.stats.published(), 0, 'watching b started a');
      assert.equal(a.state, 'idle');

      const bSnap = await fetchOnce(ts.port, '/cameras/b/snapshot');
      assert.equal(bSnap.status, 200);
      assert.equal(bSnap.headers['content-type'], 'image/jpeg');
      assert.ok(isFile(bSnap.body), "/cameras/b/snapshot is not one of b's files");

      const aStream = await framesOf(ts, '/cameras/a/video_feed', 2);
      assert.ok(aStream.bodies.every(isEmulated), '/cameras/a/video_feed sent frames that are not emulated images');
      // The first camera is also the default one.
      const plain = await framesOf(ts, '/video_feed', 2);
      assert.ok(plain.bodies.every(isEmulated), '/video_feed is not camera a');
      assert.ok(isEmulated((await fetchOnce(ts.port, '/snapshot')).body), '/snapshot is not camera a');
      assert.ok(isEmulated((await fetchOnce(ts.port, '/cameras/a/snapshot')).body));
      assert.equal(a.feed.subscriberCount, 2);
      assert.equal(b.feed.subscriberCount, 1);
      for (const c of [bStream.client, aStream.client, plain.client]) assert.deepEqual(c.errors, []);

      // /status, /healthz and /metrics cover both.
      const status = json<{ cameras: { name: string; driver: string; state: string }[]; clients: { camera: string; path: string }[] }>(
        await fetchOnce(ts.port, '/status'),
      );
      assert.deepEqual(
        status.cameras.map((c) => [c.name, c.driver, c.state]),
        [
          ['a', 'emulated', 'running'],
          ['b', 'files', 'running'],
        ],
      );
      assert.deepEqual(status.clients.map((c) => `${c.camera} ${c.path}`).sort(), [
        'a /cameras/a/video_feed',
        'a /video_feed',
        'b /cameras/b/video_feed',
      ]);
      assert.deepEqual(json(await fetchOnce(ts.port, '/healthz')), { status: 'serving', cameras: { a: 'running', b: 'running' } });
      const m = parsePrometheus((await fetchOnce(ts.port, '/metrics')).text);
      assert.equal(sampleValue(m.samples, 'framering_clients', { camera: 'a' }), 2);
      assert.equal(sampleValue(m.samples, 'framering_clients', { camera: 'b' }), 1);
      assert.ok(sampleValue(m.samples, 'framering_frames_published_total', { camera: 'b' })! >= 4);
    });

    test('unknown camera names and paths: 404; other methods: 405', { timeout: 15_000 }, async (t) => {
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--idle-timeout',
        '0.3',
        '--camera',
        'a=emulated',
        '--camera',
        'b=emulated,fps=5',
      ]);
      for (const path of ['/cameras/zzz/video_feed', '/cameras/zzz/snapshot', '/cameras/A/video_feed', '/cameras/%ZZ/snapshot']) {
        const res = await fetchOnce(ts.port, path);
        assert.equal(res.status, 404, path);
        assert.match(res.text, /no camera named/, path);
        assert.equal(res.text.trimEnd().split('\n').length, 1);
      }
      for (const path of [
        '/cameras',
        '/cameras/',
        '/cameras/a',
        '/cameras/a/',
        '/cameras/a/status',
        '/cameras/a/video_feed/x',
        '/cameras//video_feed',
      ]) {
        assert.equal((await fetchOnce(ts.port, path)).status, 404, path);
      }
      for (const path of ['/cameras/b/video_feed', '/cameras/b/snapshot']) {
        const res = await fetchOnce(ts.port, path, { method: 'POST' });
        assert.equal(res.status, 405, path);
        assert.equal(res.headers.allow, 'GET, HEAD');
      }
      assert.equal((await fetchOnce(ts.port, '/cameras/b/video_feed?fps=0')).status, 400);
      for (const c of ts.server.cameras) assert.equal(c.feed.subscriberCount, 0, `camera ${c.name} was subscribed to`);
    });

    test('the page shows every camera, each with its own stream', { timeout: 10_000 }, async (t) => {
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--idle-timeout',
        '0.3',
        '--camera',
        'front=emulated',
        '--camera',
        'back_yard-2=emulated',
      ]);
      const page = await fetchOnce(ts.port, '/');
      assert.equal(page.status, 200);
      const sources = [...page.text.matchAll(/<img\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1]);
      assert.deepEqual(sources, ['/video_feed', '/cameras/back_yard-2/video_feed']);
      assert.match(page.text, />front</);
      assert.match(page.text, />back_yard-2</);
      // Each stream the page names is served.
      for (const src of sources) {
        const viewer = await ts.connect({ path: src! });
        assert.equal(viewer.status, 200, src);
        await viewer.waitForFrames(1);
        await viewer.close();
      }
    });

    for (const format of ['yaml', 'json'] as const) {
      test(`--config FILE.${format} with two cameras`, { timeout: 20_000 }, async (t) => {
        const emulated = await loadEmulatedImages();
        const { dir: source, frames: files } = await createJpegFolder(t, 2, 2500);
        const dir = await tempDir(t);
        const file = join(dir, `framering.${format}`);
        if (format === 'yaml') {
          await writeFile(
            file,
            `# two cameras\nidleTimeout: 0.3\nmaxClients: 5\ncameras:\n  a:\n    driver: emulated\n    fps: 10\n  b:\n    driver: files\n    source: ${JSON.stringify(source)}\n    fps: 30\n`,
          );
        } else {
          await writeFile(
            file,
            JSON.stringify({
              'idle-timeout': 0.3,
              cameras: [
                { name: 'a', driver: 'emulated', fps: 10 },
                { name: 'b', driver: 'files', source, fps: 30 },
              ],
            }),
          );
        }
        const ts = await startTestServer(t, ['--http', http, '--config', file]);
        assert.equal(ts.config.idleTimeoutMs, 300);
        assert.deepEqual(
          ts.server.cameras.map((c) => [c.name, c.driver]),
          [
            ['a', 'emulated'],
            ['b', 'files'],
          ],
        );
        const bSnap = await fetchOnce(ts.port, '/cameras/b/snapshot');
        assert.equal(bSnap.status, 200);
        assert.ok(
          files.some((f) => f.equals(bSnap.body)),
          "/cameras/b/snapshot is not one of b's files",
        );
        const { bodies } = await framesOf(ts, '/cameras/a/video_feed', 2);
        assert.ok(bodies.every((body) => emulated.some((img) => img.equals(body))));
        const snap = await fetchOnce(ts.port, '/snapshot');
        assert.ok(
          emulated.some((img) => img.equals(snap.body)),
          '/snapshot is not camera a',
        );
      });
    }
  });
}

describe('invalid camera specs: exit 2 with one clear line', () => {
  const cases: [string, string[], RegExp][] = [
    ['a named and an unnamed camera', ['--camera', 'a=emulated', '--camera', 'emulated'], /name them all/],
    ['two unnamed cameras', ['--camera', 'emulated', '--camera', 'files'], /NAME=DRIVER/],
    ['two cameras with one name', ['--camera', 'a=emulated', '--camera', 'a=emulated,fps=5'], /two cameras are named "a"/],
    ['a name with a space', ['--camera', 'my cam=emulated'], /invalid camera name "my cam"/],
    ['a name that is too long', ['--camera', `${'x'.repeat(65)}=emulated`], /invalid camera name/],
    ['no driver', ['--camera', 'a='], /camera "a".*no driver/],
    ['an unknown driver', ['--camera', 'a=nosuch'], /"nosuch".*expected one of/],
    ['an unknown option', ['--camera', 'a=emulated,colour=red'], /option "colour" for camera "a"/],
    ['an option without a value', ['--camera', 'a=emulated,fps'], /expected NAME=DRIVER\[,option=value\.\.\.\], got "fps"/],
    ['an invalid option value', ['--camera', 'a=emulated,fps=fast'], /fps of camera "a".*"fast"/],
    ['an option the driver cannot honour', ['--camera', 'a=emulated,source=/tmp'], /--source/],
    ['a files camera without a source', ['--camera', 'a=emulated', '--camera', 'b=files'], /--source/],
    ['a driver module that does not exist', ['--camera', 'a=/nonexistent/driver.js'], /no such driver module/],
  ];
  for (const [what, args, message] of cases) {
    test(what, { timeout: 15_000 }, async () => {
      const r = await runCli(['--port', '0', '--host', '127.0.0.1', ...args]);
      assert.equal(r.status, 2, `exit ${r.status}; stderr: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, /^framering: /);
      assert.match(lines[0]!, message);
      assert.equal(r.stdout, '');
    });
  }

  test('a --config file with a bad camera entry', { timeout: 15_000 }, async (t) => {
    const dir = await tempDir(t);
    for (const [name, text, message] of [
      ['empty.yaml', 'cameras: []\n', /cameras must be a non-empty list or mapping/],
      ['scalar.yaml', 'cameras:\n  a: emulated\n', /camera a must be a mapping/],
      ['nodriver.json', '{"cameras": [{"name": "a"}]}', /camera "a".*no driver/],
      ['badname.yaml', 'cameras:\n  "a b":\n    driver: emulated\n', /invalid camera name "a b"/],
      ['unknown.yaml', 'cameras:\n  a:\n    driver: emulated\n    zoom: 2\n', /option "zoom" for camera "a"/],
      ['broken.json', '{"cameras": [', /invalid --config/],
    ] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      const r = await runCli(['--port', '0', '--host', '127.0.0.1', '--config', file]);
      assert.equal(r.status, 2, `${name}: exit ${r.status}; stderr: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `${name}: expected one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, message, name);
    }
  });
});
