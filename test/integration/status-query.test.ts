/**
 * Which viewers /status lists, on both front ends: the totals always, the
 * first viewers by default, none for the page's poll (?clients=none), pages with ?offset=&limit=,
 * every one with ?clients=all; a bad value is a one-line 400. The size with 3,000 viewers is
 * checked without sockets in test/unit/status-size.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchOnce, FRONT_ENDS, json } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

interface Status {
  cameras: { viewers: number }[];
  httpThreads: { clients: number }[];
  clientsTotal: number;
  clientsTruncated: boolean;
  clients: { id: number }[];
}

for (const http of FRONT_ENDS) {
  describe(`/status viewer list (--http ${http})`, { timeout: 30_000 }, () => {
    it('totals always; the viewers asked for', async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--fps', '5']);
      for (let i = 0; i < 3; i++) await ts.connect();
      await waitFor(() => ts.server.frontEnd.viewers.size === 3, 'three viewers');
      const status = async (query: string): Promise<Status> => {
        const res = await fetchOnce(ts.port, `/status${query}`);
        assert.equal(res.status, 200, `${query}: ${res.text}`);
        return json<Status>(res);
      };

      const all = await status('');
      assert.deepEqual([all.clients.length, all.clientsTotal, all.clientsTruncated], [3, 3, false]);
      const ids = all.clients.map((c) => c.id);
      assert.deepEqual(
        (await status('?clients=all')).clients.map((c) => c.id),
        ids,
      );

      const none = await status('?clients=none');
      assert.deepEqual([none.clients, none.clientsTotal, none.clientsTruncated], [[], 3, true]);
      assert.equal(none.cameras[0]!.viewers, 3, 'the per-camera total is there without the list');
      assert.equal(none.httpThreads[0]!.clients, 3, 'and the per-thread one');

      const page = await status('?offset=1&limit=1');
      assert.deepEqual(
        page.clients.map((c) => c.id),
        [ids[1]],
      );
      assert.equal(page.clientsTruncated, true);
      assert.deepEqual((await status('?offset=5')).clients, []);
      // A cache-buster or anything else unknown is ignored.
      assert.equal((await status('?_=123')).clients.length, 3);

      const bad = await fetchOnce(ts.port, '/status?limit=many');
      assert.equal(bad.status, 400);
      assert.equal(bad.text, 'invalid query parameter limit "many": expected an integer from 0 to 1000\n');
    });

    it('the page polls /status?clients=none', async (t) => {
      const ts = await startTestServer(t, ['--http', http]);
      const page = await fetchOnce(ts.port, '/');
      assert.match(page.text, /fetch\('\/status\?clients=none'/);
    });
  });
}
