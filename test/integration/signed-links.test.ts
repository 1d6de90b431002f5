/**
 * Signed links against the real server on both front ends: a link from `signLink` (what
 * `framering sign` prints) opens its camera's stream or snapshot without credentials, carries its
 * fps cap, ends its stream at its expiry between two whole frames, and opens nothing else; each
 * wrong link is a 403 saying what was wrong.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { signLink } from '../../src/server/signed-links.js';
import { basic, fetchOnce, FRONT_ENDS } from '../helpers/http.js';
import { isCompleteJpeg } from '../helpers/jpeg.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { startTestServer } from '../helpers/server.js';

const KEY = 'signed-links-test-key-0123456789';
const HOUR = 3_600_000;

async function keyFile(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-links-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'keys');
  await writeFile(file, `${KEY}\n`);
  return file;
}

const signed = (path: string, expiresAt = Date.now() + HOUR, fps?: number): string => `${path}?${signLink(KEY, path, expiresAt, fps)}`;

for (const http of FRONT_ENDS) {
  describe(`signed links (--http ${http})`, { timeout: 60_000 }, () => {
    it('with Basic auth too: a link opens its stream and snapshot without credentials, and nothing else', async (t) => {
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--url-secret-file',
        await keyFile(t),
        '--auth',
        'user:secret',
        // Every refusal below counts as a failed attempt: no lockout in this test (lockout.test.ts).
        '--lockout-attempts',
        '0',
        '--camera',
        'front=emulated',
        '--camera',
        'back=emulated',
        '--fps',
        '10',
      ]);
      const client = await MjpegClient.connect({ port: ts.port, path: signed('/cameras/front/video_feed') });
      t.after(() => client.close());
      await client.waitForFrames(2, { timeoutMs: 10_000 });
      assert.ok(client.frames.every((f) => isCompleteJpeg(f.body)));

      const snap = await fetchOnce(ts.port, signed('/cameras/back/snapshot'));
      assert.equal(snap.status, 200);
      assert.equal(snap.headers['content-type'], 'image/jpeg');

      // Unsigned still needs credentials; with them it works as before.
      assert.equal((await fetchOnce(ts.port, '/cameras/front/snapshot')).status, 401);
      assert.equal((await fetchOnce(ts.port, '/status', { headers: { Authorization: basic('user:secret') } })).status, 200);

      const refused = async (target: string, why: string): Promise<void> => {
        const r = await fetchOnce(ts.port, target);
        assert.equal(r.status, 403, `${target}: ${r.status}`);
        assert.equal(r.body.toString(), `signed link refused: ${why}\n`, target);
      };
      const front = signed('/cameras/front/video_feed');
      await refused(front.replace('/front/', '/back/'), 'the link is for another camera');
      await refused(
        front.replace(/exp=(\d+)/, (_, e: string) => `exp=${Number(e) + 1}`),
        'the signature does not match (another key, or the link was altered)',
      );
      await refused(
        `/cameras/front/video_feed?${signLink('another-key-0123456789abcdef', '/cameras/front/video_feed', Date.now() + HOUR)}`,
        'the signature does not match (another key, or the link was altered)',
      );
      await refused(
        signed('/cameras/front/video_feed', Date.now() - 10_000),
        `the link expired at ${new Date(Math.ceil((Date.now() - 10_000) / 1000) * 1000).toISOString()}`,
      );
      // An fps the link was not signed with is an alteration; a second one is malformed.
      await refused(`${front}&fps=1000`, 'the signature does not match (another key, or the link was altered)');
      await refused(`${signed('/cameras/front/video_feed', Date.now() + HOUR, 2)}&fps=1000`, 'parameter fps given twice in a signed link');
      // Never /status, /metrics or the page, however it is signed.
      for (const path of ['/status', '/metrics', '/'])
        await refused(signed(path), "a signed link grants only a camera's stream or snapshot");
      assert.equal((await fetchOnce(ts.port, '/healthz')).status, 200);
    });

    it("a link's fps cap holds, and its stream ends at its expiry between whole frames", async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--url-secret-file', await keyFile(t), '--fps', '10']);
      // Only signed links get in: the server has a secret and no Basic credentials.
      const unsigned = await fetchOnce(ts.port, '/video_feed');
      assert.equal(unsigned.status, 403);
      assert.equal(unsigned.body.toString(), 'a signed link is required (framering sign)\n');

      const capped = await MjpegClient.connect({ port: ts.port, path: signed('/video_feed', Date.now() + HOUR, 2) });
      t.after(() => capped.close());
      // Expiry is in whole seconds: this link ends 2-3 s from now.
      const expiresAt = Math.ceil((Date.now() + 2000) / 1000) * 1000;
      const ending = await MjpegClient.connect({ port: ts.port, path: signed('/video_feed', expiresAt) });
      t.after(() => ending.close());
      await Promise.race([ending.whenClosed(), new Promise((r) => setTimeout(r, 6000))]);
      assert.ok(ending.closed, 'the stream was still open 3 s after its link expired');
      const lastAt = ending.frames.at(-1)!.receivedAtEpochMs;
      assert.ok(lastAt < expiresAt + 1500, `a frame ${lastAt - expiresAt} ms after the expiry`);
      assert.ok(ending.frames.length >= 10, `${ending.frames.length} frames before the expiry at 10 fps`);
      assert.ok(
        ending.frames.every((f) => f.contentLength === f.bodyLength && isCompleteJpeg(f.body)),
        'a torn frame',
      );
      assert.deepEqual(ending.errors, []);
      assert.equal(ending.partialBytes, 0, 'bytes of a part cut off when the stream ended');

      // The capped viewer, over the same seconds: 2 fps, not the camera's 10.
      assert.ok(capped.frames.length >= 3 && capped.frames.length <= 9, `${capped.frames.length} frames at fps=2 in ~3 s`);
    });
  });
}
