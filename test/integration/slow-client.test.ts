/**
 * A viewer that stops reading keeps one frame in flight; after --slow-client-timeout it is
 * disconnected and counted in /status and /metrics, while the others keep the full rate.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestServer } from '../helpers/server.js';
import { fetchOnce, FRONT_ENDS, json, parsePrometheus, sampleValue } from '../helpers/http.js';
import { createJpegFolder } from '../helpers/jpeg.js';

for (const http of FRONT_ENDS) {
  describe(`slow clients (${http})`, { timeout: 60_000 }, () => {
    it('a viewer that stops reading is disconnected after the timeout and counted', async (t) => {
      // 1 MB frames at 30 fps fill the loopback socket buffers of a paused viewer in well under a second.
      const { dir } = await createJpegFolder(t, 4, 1_000_000);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--camera',
        'files',
        '--source',
        dir,
        '--fps',
        '30',
        '--max-frame-bytes',
        '4M',
        '--slow-client-timeout',
        '1',
      ]);
      const reader = await ts.connect({ retainBodies: 1 });
      const stuck = await ts.connect({ retainBodies: 1 });
      await stuck.waitForFrames(1, { timeoutMs: 10_000 });
      stuck.pause();
      // A paused client socket does not see the server's close until it reads again: ask the server.
      let status = { slowClientsDisconnected: 0, clients: [] as unknown[] };
      const deadline = Date.now() + 20_000;
      while (status.slowClientsDisconnected === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        status = json(await fetchOnce(ts.port, '/status'));
      }
      const before = reader.frames.length;
      await reader.waitForFrames(before + 15, { timeoutMs: 5000, what: 'the reading viewer to keep streaming' });
      status = json(await fetchOnce(ts.port, '/status'));
      assert.equal(status.slowClientsDisconnected, 1);
      assert.equal(status.clients.length, 1);
      const { samples } = parsePrometheus((await fetchOnce(ts.port, '/metrics')).body.toString());
      assert.equal(sampleValue(samples, 'framering_slow_clients_disconnected_total'), 1);
    });

    it('--slow-client-timeout 0 never disconnects', async (t) => {
      const { dir } = await createJpegFolder(t, 4, 1_000_000);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--camera',
        'files',
        '--source',
        dir,
        '--fps',
        '30',
        '--max-frame-bytes',
        '4M',
        '--slow-client-timeout',
        '0',
      ]);
      const stuck = await ts.connect({ retainBodies: 1 });
      await stuck.waitForFrames(1, { timeoutMs: 10_000 });
      stuck.pause();
      // Long enough for a 1 s timeout to have fired several times over.
      await new Promise((r) => setTimeout(r, 3000));
      const status = json<{ slowClientsDisconnected: number; clients: unknown[] }>(await fetchOnce(ts.port, '/status'));
      assert.equal(status.slowClientsDisconnected, 0);
      assert.equal(status.clients.length, 1);
    });
  });
}
