/**
 * Camera errors leave the server without file paths, on both front ends.
 *
 * The bug: a camera's last error went out as the driver wrote it, and the files driver writes the
 * frame's path (`invalid frame /home/pi/private frames/frame000.jpg: not a complete JPEG ...`):
 * /status, the page and the 503 of /snapshot told anyone who could read them where on the
 * machine the frames live. Now they say what failed with `[path]` in place of the path; the log
 * line, which is the operator's, keeps it.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fetchOnce, FRONT_ENDS, json } from '../helpers/http.js';
import { fakeJpeg } from '../helpers/jpeg.js';
import { startTestServer, waitForState } from '../helpers/server.js';

// A folder name with a space, as people name folders: the harder case for finding a path in text.
const FOLDER = 'private frames';
const FILE = 'frame000.jpg';

interface Status {
  cameras: { state: string; lastError: { message: string; at: string } | null }[];
}

for (const http of FRONT_ENDS) {
  describe(`camera errors without paths (--http ${http})`, { timeout: 60_000 }, () => {
    for (const threads of http === 'uws' ? [1, 2] : [1]) {
      it(`a frame file that turned bad: /status, /healthz and the 503 say what failed, not where (${threads} HTTP thread${threads > 1 ? 's' : ''})`, async (t) => {
        const root = await mkdtemp(join(tmpdir(), 'framering-paths-'));
        t.after(() => rm(root, { recursive: true, force: true }));
        const dir = join(root, FOLDER);
        await mkdir(dir);
        await writeFile(join(dir, FILE), fakeJpeg(2000, 1));
        await writeFile(join(dir, 'frame001.jpg'), fakeJpeg(2000, 2));
        // The restart waits a minute: the camera stays in error while the test looks at it.
        const ts = await startTestServer(
          t,
          ['--http', http, '--http-threads', String(threads), '--camera', 'files', '--source', dir, '--fps', '5'],
          { backoffInitialMs: 60_000, snapshotTimeoutMs: 1000 },
        );
        // Valid at start (the driver checks the folder then); broken by the time capture starts.
        await writeFile(join(dir, FILE), 'not a jpeg at all');

        const leaks = (text: string, where: string): void => {
          for (const piece of [root, FOLDER, 'private', FILE, 'frame000', tmpdir()])
            assert.ok(!text.includes(piece), `${where} shows ${JSON.stringify(piece)}: ${text}`);
        };
        // With two threads, some of these are answered by the worker thread (the kernel spreads
        // connections), whose copy of the last error came by message.
        const snapshots = await Promise.all(Array.from({ length: threads * 3 }, () => fetchOnce(ts.port, '/snapshot')));
        for (const snap of snapshots) {
          assert.equal(snap.status, 503, snap.text);
          assert.match(
            snap.text,
            /^camera "default" delivered no frame within 1 s \(state error: invalid frame \[path\]: not a complete JPEG/,
          );
          assert.equal(snap.text.indexOf('\n'), snap.text.length - 1, 'one line');
          leaks(snap.text, 'the 503 of /snapshot');
        }
        await waitForState(ts.camera, 'error');

        const status = await fetchOnce(ts.port, '/status');
        const camera = json<Status>(status).cameras[0]!;
        assert.equal(camera.state, 'error');
        assert.match(camera.lastError?.message ?? '', /^invalid frame \[path\]: not a complete JPEG/);
        leaks(status.text, '/status');
        leaks((await fetchOnce(ts.port, '/healthz')).text, '/healthz');

        // The operator's log keeps the path.
        assert.ok(
          ts.logs.some((l) => l.includes(join(dir, FILE)) && /not a complete JPEG/.test(l)),
          `no log line names the file:\n${ts.logs.join('\n')}`,
        );
      });
    }
  });
}
