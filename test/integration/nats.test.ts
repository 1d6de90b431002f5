/**
 * The NATS frame bus against Debian's nats-server on 127.0.0.1: a capture node publishing
 * (`--publish`) and an edge reading (`--camera nats`), both in this process. What a user of the
 * pair would notice: the edge's viewers get the capture node's frames whole and byte for byte;
 * capture runs only while an edge has viewers; a frame NATS cannot carry is refused with one line
 * naming the limit (never truncated); credentials and TLS work and credentials never show. The
 * cluster, failover and slow links are in test/load/topology.test.ts; parsing is in
 * test/unit/nats-link.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { createJpegFolder, isCompleteJpeg } from '../helpers/jpeg.js';
import { natsServerMissing, shippedNatsConfig, startNatsServer } from '../helpers/nats.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { sleep } from '../helpers/wait.js';

const FRAME_BYTES = 20_000;

/** A capture node playing `count` distinct frames at 30 fps and publishing them to `url`. */
async function captureNode(t: TestContext, url: string, extra: string[] = [], count = 6): Promise<{ node: TestServer; frames: Buffer[] }> {
  const { dir, frames } = await createJpegFolder(t, count, FRAME_BYTES);
  const node = await startTestServer(t, [
    '--camera',
    'files',
    '--source',
    dir,
    '--fps',
    '30',
    '--idle-timeout',
    '1',
    '--publish',
    url,
    ...extra,
  ]);
  await node.waitForLog(/publishing to NATS/);
  return { node, frames };
}

function edge(t: TestContext, source: string, extra: string[] = []): Promise<TestServer> {
  return startTestServer(t, ['--camera', 'nats', '--source', source, '--idle-timeout', '1', '--no-signal-after', '0', ...extra], {
    backoffInitialMs: 100,
  });
}

interface PublishedCamera {
  watched: boolean;
  framesPublished: number;
  framesTooLarge: number;
}

/** The capture node's publisher counters for its camera, from /status. */
async function publishStatus(node: TestServer): Promise<PublishedCamera> {
  const status = (await (await fetch(`http://127.0.0.1:${node.port}/status`)).json()) as { publish: { cameras: PublishedCamera[] } };
  return status.publish.cameras[0]!;
}

describe('NATS frame bus (--publish, --camera nats)', { skip: natsServerMissing }, () => {
  test('an edge serves the capture node’s frames byte for byte, and capture runs only while the edge has viewers', {
    timeout: 40_000,
  }, async (t) => {
    const nats = await startNatsServer(t);
    const { node, frames } = await captureNode(t, nats.url);
    const e = await edge(t, nats.url);
    await sleep(1500);
    assert.equal(node.camera.state, 'idle', 'the capture node captures before any edge has a viewer');

    const viewer = await e.connect();
    await viewer.waitForFrames(40, { timeoutMs: 10_000 });
    for (const f of viewer.frames) {
      assert.ok(isCompleteJpeg(f.body), `frame ${f.index} is not a whole JPEG`);
      assert.ok(
        frames.some((src) => src.equals(f.body)),
        `frame ${f.index} (${f.bodyLength} bytes) is not one of the capture node's frames`,
      );
    }
    assert.equal(node.camera.state, 'running');
    assert.equal((await publishStatus(node)).watched, true);
    // One edge viewer or five: the capture node publishes each frame once.
    const more = await Promise.all([1, 2, 3, 4].map(() => e.connect()));
    await Promise.all(more.map((v) => v.waitForFrames(10, { timeoutMs: 5000 })));
    const first = viewer.frames.length;
    await sleep(1000);
    const rate = viewer.frames.length - first;
    t.diagnostic(
      `edge viewer: ${rate} frames in 1 s with 5 viewers; capture node published ${(await publishStatus(node)).framesPublished}`,
    );
    assert.ok(rate >= 20, `the edge viewer got ${rate} frames in a second of a 30 fps stream`);

    // Every viewer leaves: the edge stops (1 s), its interest lapses (3.5 s), capture stops (1 s).
    await Promise.all([viewer, ...more].map((v) => v.close()));
    await node.waitForLog(/camera default: capture stopped: no viewers/, 12_000);
    assert.equal((await publishStatus(node)).watched, false);
  });

  test('a frame larger than the server’s max_payload is refused with one line naming the limit, never truncated', {
    timeout: 30_000,
  }, async (t) => {
    const nats = await startNatsServer(t, { maxPayload: 16_384 });
    const { node } = await captureNode(t, nats.url);
    const e = await edge(t, nats.url);
    const viewer = await e.connect();
    let refused = 0;
    for (const deadline = Date.now() + 10_000; refused <= 30 && Date.now() < deadline; await sleep(200))
      refused = (await publishStatus(node)).framesTooLarge;
    assert.ok(refused > 30, `only ${refused} frames counted as too large`);
    const lines = node.logs.filter((l) => /max_payload/.test(l));
    assert.equal(lines.length, 1, `expected one line about max_payload, got:\n${lines.join('\n')}`);
    assert.match(
      lines[0]!,
      /frame of \d+ bytes not published: larger than the NATS server's max_payload of 16384 bytes; raise max_payload/,
    );
    assert.equal(viewer.frames.length, 0, 'the edge served something although no frame fits a message');
    assert.equal((await publishStatus(node)).framesPublished, 0);
  });

  test('user and password in the URL are used, and never shown; a wrong password is one line', { timeout: 30_000 }, async (t) => {
    const nats = await startNatsServer(t, { user: { user: 'cam', password: 'pw-s3cret' } });
    const url = `nats://cam:pw-s3cret@127.0.0.1:${nats.port}`;
    const { node } = await captureNode(t, url);
    const e = await edge(t, url);
    const viewer = await e.connect();
    await viewer.waitForFrames(10, { timeoutMs: 10_000 });

    const wrong = await edge(t, `nats://cam:wrong-pw@127.0.0.1:${nats.port}`);
    const w = await wrong.connect();
    const line = await wrong.waitForLog(/cannot connect to NATS/, 10_000);
    assert.match(line, /cannot connect to NATS nats:\/\/\*\*\*@127\.0\.0\.1:\d+: .*[Aa]uthorization/);
    await w.close();
    for (const l of [...node.logs, ...e.logs, ...wrong.logs]) assert.doesNotMatch(l, /pw-s3cret|wrong-pw/);
  });

  test('TLS: tls:// with --nats-ca verifies the server; without the CA the edge says why', { timeout: 30_000 }, async (t) => {
    const { certFile, keyFile } = await selfSignedCertificate(t);
    const nats = await startNatsServer(t, { tls: { certFile, keyFile } });
    await captureNode(t, nats.url, ['--nats-ca', certFile]);
    const e = await edge(t, nats.url, ['--nats-ca', certFile]);
    const viewer = await e.connect();
    await viewer.waitForFrames(10, { timeoutMs: 10_000 });
    assert.ok(viewer.frames.every((f) => isCompleteJpeg(f.body)));

    const untrusting = await edge(t, nats.url);
    const u = await untrusting.connect();
    const line = await untrusting.waitForLog(/cannot connect to NATS/, 10_000);
    assert.match(line, /tls:\/\/127\.0\.0\.1:\d+: .*(certificate|self.signed)/i);
    await u.close();
  });
});

describe('a camera behind NAT through a leaf node (deploy/nats/leaf.conf into deploy/nats/cluster.conf)', {
  skip: natsServerMissing,
}, () => {
  test('the capture node publishes to its local leaf node; an edge on the hub gets its frames, and capture runs only while it watches', {
    timeout: 40_000,
  }, async (t) => {
    // The hub: the shipped cluster server alone (its routes to the other two are dropped here;
    // test/load/topology.test.ts runs the cluster), leaf port on 127.0.0.1.
    const hub = await startNatsServer(t, {
      config: shippedNatsConfig('cluster.conf', [
        [/^cluster \{[\s\S]*?\n\}\n/m, ''],
        [/(leafnodes \{\s*listen: )0\.0\.0\.0:7422/, '$1127.0.0.1:-1'],
      ]),
    });
    assert.ok(hub.leafPort, 'the shipped cluster.conf opens a leaf node port');
    const leaf = await startNatsServer(t, {
      config: shippedNatsConfig('leaf.conf', [[/urls: \[[^\]]*\]/, `urls: [ "nats-leaf://127.0.0.1:${hub.leafPort}" ]`]]),
    });
    await waitForOutput(leaf, /Leafnode connection created/);
    const { node, frames } = await captureNode(t, leaf.url);
    const e = await edge(t, hub.url);
    await sleep(1500);
    assert.equal(node.camera.state, 'idle', 'the camera runs although no edge watches');
    const viewer = await e.connect();
    await viewer.waitForFrames(30, { timeoutMs: 10_000 });
    for (const f of viewer.frames)
      assert.ok(
        frames.some((src) => src.equals(f.body)),
        `frame ${f.index} is not one of the capture node's`,
      );
    await viewer.close();
    await node.waitForLog(/camera default: capture stopped: no viewers/, 12_000);
  });
});

async function waitForOutput(server: { output(): string }, pattern: RegExp, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !pattern.test(server.output()); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`nats-server did not print ${pattern} within ${timeoutMs} ms:\n${server.output()}`);
  }
}
