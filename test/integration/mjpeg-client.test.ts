/**
 * The test MJPEG client (test/helpers/mjpeg-client.ts) must catch what the stream tests rely on
 * it to catch: parts cut at Content-Length whatever the chunking, a Content-Length that does not
 * match its body, a part cut off by the end of the stream.
 */

import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { sleep } from '../helpers/wait.js';

// The client itself must catch what these tests rely on it to catch. A node:http server stands in
// for the front end (which also shows a node:http front end can be tested with the same client).
describe('the test MJPEG client', () => {
  async function serve(
    t: TestContext,
    writeBody: (write: (s: string | Buffer) => Promise<void>) => Promise<void>,
    headers: Record<string, string> = {},
  ): Promise<number> {
    const server: HttpServer = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame', ...headers });
      const write = (s: string | Buffer) =>
        new Promise<void>((resolve) => {
          res.write(s, () => resolve());
        });
      void writeBody(write).then(() => res.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    return address.port;
  }
  const jpeg = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(n, 0x2d), Buffer.from([0xff, 0xd9])]);
  const part = (body: Buffer, length = body.length) =>
    Buffer.concat([
      Buffer.from(`Content-Type: image/jpeg\r\nContent-Length: ${length}\r\nX-Timestamp: 1700000000.000001\r\n\r\n`),
      body,
      Buffer.from('\r\n--frame\r\n'),
    ]);

  test('parses a chunked multipart body split at arbitrary points', { timeout: 5000 }, async (t) => {
    const bodies = [jpeg(10), jpeg(3000), jpeg(0), jpeg(70_000)];
    const wire = Buffer.concat([Buffer.from('--frame\r\n'), ...bodies.map((b) => part(b))]);
    const port = await serve(t, async (write) => {
      // Odd-sized writes: boundaries and headers straddle chunks.
      for (let at = 0; at < wire.length; at += 7919) await write(wire.subarray(at, at + 7919));
    });
    const client = await MjpegClient.connect({ port, path: '/' });
    t.after(() => client.close());
    assert.equal(client.bodyFraming, 'chunked');
    const frames = await client.waitForFrames(4);
    assert.deepEqual(
      frames.map((f) => f.body),
      bodies,
    );
    assert.equal(frames[0]!.timestamp, 1700000000.000001);
    assert.deepEqual(client.errors, []);
  });

  test('reports a part whose Content-Length does not match its body, and fails waits', { timeout: 5000 }, async (t) => {
    const good = jpeg(100);
    const port = await serve(t, async (write) => {
      await write(Buffer.concat([Buffer.from('--frame\r\n'), part(good), part(jpeg(100), 90)]));
      await sleep(200);
    });
    const client = await MjpegClient.connect({ port, path: '/' });
    t.after(() => client.close());
    await assert.rejects(client.waitForFrames(2), /Content-Length 90 does not match/);
    assert.equal(client.frames.length, 1);
    assert.match(client.errors[0]?.message ?? '', /Content-Length 90/);
  });

  test('does not count a part cut off by the end of the stream', { timeout: 5000 }, async (t) => {
    const port = await serve(t, async (write) => {
      const whole = part(jpeg(1000));
      await write(Buffer.concat([Buffer.from('--frame\r\n'), whole, whole.subarray(0, 500)]));
    });
    const client = await MjpegClient.connect({ port, path: '/' });
    t.after(() => client.close());
    await assert.rejects(client.waitForFrames(2), /ended before|closed before/);
    assert.equal(client.frames.length, 1);
  });
});
