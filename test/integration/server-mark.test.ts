/**
 * What the response headers say about the server: nothing that names its software or version.
 *
 * Regression: uWebSockets.js added `uWebSockets: 20` to every response (its "mark"),
 * telling anyone who asks which server and major version answers. The uWS front end now turns
 * it off (src/server/uws/front-end.ts); node:http never sends a Server header.
 */

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { fetchOnce, FRONT_ENDS } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { selfSignedCertificate } from '../helpers/tls.js';

/** The response head for `request` on a new connection (up to the blank line), or what came before the close. */
function head(port: number, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let raw = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response head within ${timeoutMs} ms: ${JSON.stringify(raw.slice(0, 200))}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(raw.split('\r\n\r\n')[0]!);
    };
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      if (raw.includes('\r\n\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request);
  });
}

/** Software names a header could carry. */
const MARK = /uwebsockets|\buws\b|^server:|^x-powered-by:/im;

for (const http of FRONT_ENDS) {
  describe(`no server mark in responses (--http ${http})`, { timeout: 20_000 }, () => {
    it('page, health, stream, snapshot, 404, 405, 400 and HEAD: no header names the server software', async (t) => {
      const server = await startTestServer(t, ['--http', http]);
      const host = 'Host: 127.0.0.1\r\n';
      const requests: Record<string, string> = {
        'GET /': `GET / HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'HEAD /': `HEAD / HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'GET /healthz': `GET /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'GET /video_feed': `GET /video_feed HTTP/1.1\r\n${host}\r\n`,
        'GET /video_feed as an <img>': `GET /video_feed HTTP/1.1\r\n${host}Sec-Fetch-Dest: image\r\n\r\n`,
        'GET /snapshot': `GET /snapshot HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'GET /nope': `GET /nope HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'DELETE /status': `DELETE /status HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
        'two Content-Lengths': `GET /healthz HTTP/1.1\r\n${host}Content-Length: 0\r\nContent-Length: 1\r\n\r\n`,
      };
      const problems: string[] = [];
      for (const [what, request] of Object.entries(requests)) {
        const h = await head(server.port, request);
        if (!/^HTTP\/1\.1 \d{3} /.test(h)) problems.push(`${what}: no answer (${JSON.stringify(h.slice(0, 80))})`);
        const mark = MARK.exec(h);
        if (mark) problems.push(`${what}: ${JSON.stringify(h.split('\r\n').find((l) => MARK.test(l)))}`);
      }
      assert.deepEqual(problems, []);
    });

    it('over TLS as well', async (t) => {
      const cert = await selfSignedCertificate(t);
      const server = await startTestServer(t, ['--http', http, '--tls-cert', cert.certFile, '--tls-key', cert.keyFile]);
      const r = await fetchOnce(server.port, '/healthz', { ca: cert.certPem });
      assert.equal(r.status, 200);
      const names = Object.keys(r.headers);
      assert.deepEqual(
        names.filter((n) => /uwebsockets|^server$|^x-powered-by$/i.test(n)),
        [],
        names.join(', '),
      );
    });
  });
}

describe('no server mark in responses (--http uws, two HTTP threads)', { timeout: 20_000 }, () => {
  // uWS's mark is switched off per event loop, and each HTTP thread runs its own.
  it('every thread answers without it', async (t) => {
    const server = await startTestServer(t, ['--http', 'uws', '--http-threads', '2']);
    const heads = await Promise.all(
      Array.from({ length: 16 }, () => head(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')),
    );
    assert.deepEqual(
      heads.filter((h) => MARK.test(h) || !h.startsWith('HTTP/1.1 200 ')),
      [],
    );
  });
});
