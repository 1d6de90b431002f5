/**
 * Graceful shutdown under load: with 1,000 viewers streaming, SIGTERM still ends every stream
 * and exits 0 within 2 seconds, on both front ends.
 */

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { startCli } from '../helpers/server.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';

const VIEWERS = 1000;

/** Opens a stream over a raw socket; resolves once its first bytes arrive. */
function viewer(port: number): Promise<{ socket: Socket; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    const ended = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('data', () => resolve({ socket, ended }));
    socket.on('data', () => {}); // keep reading
    socket.once('error', reject);
  });
}

for (const http of ['uws', 'node'] as const) {
  describe(`shutdown with ${VIEWERS} viewers (${http})`, { timeout: 60_000 }, () => {
    it('SIGTERM ends every stream and exits 0 within 2 seconds', async () => {
      const server = await startCli(['--http', http, '--camera', 'files', '--source', EMULATED_ASSETS.pathname, '--fps', '30']);
      const viewers: { socket: Socket; ended: Promise<void> }[] = [];
      try {
        // Connect in batches, so the accept queue is never the test's bottleneck.
        for (let i = 0; i < VIEWERS; i += 100) {
          viewers.push(...(await Promise.all(Array.from({ length: Math.min(100, VIEWERS - i) }, () => viewer(server.port)))));
        }
        assert.equal(viewers.length, VIEWERS);
        const t0 = performance.now();
        server.child.kill('SIGTERM');
        const { status } = await server.exited;
        const elapsed = performance.now() - t0;
        assert.equal(status, 0, server.stderr());
        assert.ok(elapsed < 2000, `exited after ${elapsed.toFixed(0)} ms`);
        // Every viewer's stream was ended by the server, none left hanging.
        await Promise.race([
          Promise.all(viewers.map((v) => v.ended)),
          new Promise((_, reject) => setTimeout(() => reject(new Error('streams still open 5 s after exit')), 5000)),
        ]);
      } finally {
        for (const v of viewers) v.socket.destroy();
        server.kill();
      }
    });
  });
}
