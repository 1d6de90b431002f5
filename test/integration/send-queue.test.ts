/**
 * --send-queue reaches the kernel: the listening socket of each front end carries
 * TCP_NOTSENT_LOWAT, which its connections inherit. Without it a viewer on a slow link gets
 * seconds-old frames (test/load/slow-link.test.ts shows the effect on a real shaped link; this
 * checks the setting itself, in a second, so a failure says where the chain broke).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendQueueLimit, sendQueueUnavailable } from '../../src/server/send-queue.js';
import { listeningFds, scanListening } from '../../src/server/uws/listen-fds.js';
import { FRONT_ENDS } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

const skip = process.platform !== 'linux' ? 'TCP_NOTSENT_LOWAT is Linux only' : false;

describe('--send-queue', { skip }, () => {
  it('the sockopt module loads on this platform', () => {
    assert.equal(sendQueueUnavailable(), null);
  });

  for (const http of FRONT_ENDS) {
    it(`${http}: the listening socket carries the default 128K limit, or the one asked for`, async (t) => {
      for (const [args, bytes] of [
        [[], 128 * 1024],
        [['--send-queue', '48K'], 48 * 1024],
      ] as const) {
        const server = await startTestServer(t, ['--http', http, '--camera', 'synthetic', ...args]);
        const fds = listeningFds(server.port);
        assert.equal(fds.length, 1, `listening sockets found on port ${server.port}: ${fds.join(', ')}`);
        assert.equal(sendQueueLimit(fds[0]!), bytes);
        assert.ok(!server.logs.some((l) => l.includes('send queues')), server.logs.join('\n'));
        await server.close();
      }
    });
  }

  it('--send-queue 0 leaves the kernel default (the socket has no limit of its own)', async (t) => {
    const server = await startTestServer(t, ['--http', 'uws', '--camera', 'synthetic', '--send-queue', '0']);
    const [fd] = listeningFds(server.port);
    assert.ok(fd !== undefined);
    assert.equal(sendQueueLimit(fd), 0); // 0: net.ipv4.tcp_notsent_lowat applies
  });

  it('without /proc, a scan of the descriptors finds the same listening socket', async (t) => {
    const server = await startTestServer(t, ['--http', 'uws', '--camera', 'synthetic']);
    assert.deepEqual(scanListening(), listeningFds(server.port));
  });
});
