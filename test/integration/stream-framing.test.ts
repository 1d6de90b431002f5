/**
 * The stream's body framing, which clients other than browsers misread when it is wrong.
 *
 * Regression: the uWS front end declared `Content-Length: 9007199254740991` on every stream:
 * Firefox showed a blank tab for /video_feed, python-requests' `iter_content` and urllib raised
 * MemoryError allocating the declared length, wget announced 8.0P. Streams are now chunked, except
 * for a browser's <img> (`Sec-Fetch-Dest: image`), which reads the length-framed body and costs
 * less per frame on both front ends (uWS: a syscall less; node:http: parts written to the socket
 * as they are).
 */

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FRONT_ENDS } from '../helpers/http.js';
import { createJpegFolder, isCompleteJpeg } from '../helpers/jpeg.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { startTestServer } from '../helpers/server.js';

for (const http of FRONT_ENDS) {
  describe(`stream framing (${http})`, () => {
    const open = async (t: TestContext, headers: Record<string, string>) => {
      const { dir } = await createJpegFolder(t, 3, 40_000); // larger than uWS's 16 KB cork buffer
      const ts = await startTestServer(t, ['--http', http, '--camera', 'files', '--source', dir, '--fps', '30']);
      const client = await MjpegClient.connect({ port: ts.port, path: '/video_feed', headers });
      t.after(() => client.close());
      await client.waitForFrames(20, { timeoutMs: 5000 });
      return client;
    };

    it('is chunked for a client that is not a browser image, with every part whole', async (t) => {
      const client = await open(t, {});
      assert.equal(client.headers['transfer-encoding'], 'chunked');
      assert.equal(client.headers['content-length'], undefined);
      assert.equal(client.headers['x-accel-buffering'], 'no');
      assert.ok(
        client.frames.every((f) => f.contentLength === f.bodyLength && isCompleteJpeg(f.body)),
        'every part is a whole JPEG',
      );
    });

    it("for a browser's <img> (Sec-Fetch-Dest: image) it is whole parts too", async (t) => {
      const client = await open(t, { 'Sec-Fetch-Dest': 'image' });
      assert.equal(client.headers['content-length'], String(Number.MAX_SAFE_INTEGER));
      assert.equal(client.headers['transfer-encoding'], undefined);
      assert.ok(
        client.frames.every((f) => f.contentLength === f.bodyLength && isCompleteJpeg(f.body)),
        'every part is a whole JPEG',
      );
    });
  });
}
