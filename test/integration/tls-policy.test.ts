/**
 * TLS suites on the uWebSockets.js front end (--tls-cert/--tls-key), probed with openssl
 * s_client offering one suite at a time.
 *
 * Regression: uWS offered BoringSSL's default TLS 1.2 list, which includes static-RSA
 * key exchange (AES128-GCM-SHA256: whoever gets the key later decrypts every recorded session)
 * and CBC with SHA-1 (AES128-SHA), and took whichever the client preferred. It now offers only
 * the ECDHE AEAD suites of src/server/tls-policy.ts. The server's order cannot be made to win on
 * uWS (no AppOptions key for it; see src/server/uws/front-end.ts): the test records which suite a
 * client that lists them backwards gets, and checks that a weak suite is never chosen, whatever
 * the client lists first.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { TLS12_CIPHERS } from '../../src/server/tls-policy.js';
import { fetchOnce } from '../helpers/http.js';
import { hasCommand, missing } from '../helpers/requirements.js';
import { startTestServer } from '../helpers/server.js';
import { selfSignedCertificate } from '../helpers/tls.js';

const noOpenssl = missing({ 'openssl (apt-get install openssl)': hasCommand('openssl', ['version']) });

/** What one s_client handshake gave: the protocol and suite, or null if it failed (and why, in a few words). */
interface Handshake {
  protocol: string | null;
  cipher: string | null;
  failure: string | null;
}

function sClient(port: number, args: readonly string[]): Promise<Handshake> {
  return new Promise((resolve) => {
    // stdin is /dev/null: s_client handshakes, reads EOF and ends. -brief prints the protocol and suite.
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', () => {
      clearTimeout(timer);
      const protocol = /Protocol version: (\S+)/.exec(out)?.[1] ?? null;
      const cipher = /Ciphersuite: (\S+)/.exec(out)?.[1] ?? null;
      const failure = cipher
        ? null
        : (/(alert [a-z ]+|no ciphers available|no protocols available)/.exec(out)?.[1] ?? (out.trim().split('\n')[0] || 'no output'));
      resolve({ protocol, cipher, failure });
    });
  });
}

const OFFERED = TLS12_CIPHERS.split(':');

describe('TLS suites (--http uws)', { timeout: 60_000 }, () => {
  it('RSA certificate: no static RSA, no CBC, no TLS 1.1; every ECDHE-RSA AEAD suite and TLS 1.3 work', { skip: noOpenssl }, async (t) => {
    const cert = await selfSignedCertificate(t, { key: 'rsa' });
    const server = await startTestServer(t, ['--http', 'uws', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile]);
    const problems: string[] = [];

    // Weak suites a client may offer on its own: each must fail the handshake.
    for (const weak of [
      'AES128-SHA',
      'AES128-GCM-SHA256',
      'AES256-GCM-SHA384',
      'AES256-SHA256',
      'ECDHE-RSA-AES128-SHA',
      'ECDHE-RSA-AES256-SHA384',
    ]) {
      const h = await sClient(server.port, ['-tls1_2', '-cipher', weak]);
      if (h.cipher !== null) problems.push(`${weak} was accepted (${h.protocol} ${h.cipher})`);
    }
    // Offered first, before a strong one: the strong one is chosen.
    const mixed = await sClient(server.port, ['-tls1_2', '-cipher', 'AES128-SHA:AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256']);
    if (mixed.cipher !== 'ECDHE-RSA-AES128-GCM-SHA256') problems.push(`weak suites listed first: got ${mixed.cipher ?? mixed.failure}`);
    // TLS 1.1 (allowed on the client side with SECLEVEL=0) is refused by the server.
    const old = await sClient(server.port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    if (old.cipher !== null) problems.push(`TLS 1.1 was accepted (${old.cipher})`);

    const rsaSuites = OFFERED.filter((c) => c.startsWith('ECDHE-RSA-'));
    assert.ok(rsaSuites.length >= 2, `TLS12_CIPHERS has ${rsaSuites.length} ECDHE-RSA suites`);
    for (const suite of rsaSuites) {
      const h = await sClient(server.port, ['-tls1_2', '-cipher', suite]);
      if (h.protocol !== 'TLSv1.2' || h.cipher !== suite) problems.push(`${suite}: ${h.cipher ?? h.failure}`);
    }
    const tls13 = await sClient(server.port, ['-tls1_3']);
    if (tls13.protocol !== 'TLSv1.3') problems.push(`TLS 1.3: ${tls13.protocol ?? tls13.failure}`);

    // The order: offered backwards, which one does the client get? (uWS: the client's first.)
    const backwards = await sClient(server.port, ['-tls1_2', '-cipher', [...rsaSuites].reverse().join(':')]);
    if (backwards.cipher === null || !rsaSuites.includes(backwards.cipher))
      problems.push(`backwards list: ${backwards.cipher ?? backwards.failure}`);
    const note = `offered ${[...rsaSuites].reverse().join(':')}, got ${backwards.cipher} (${backwards.cipher === rsaSuites[0] ? "the server's first choice" : "the client's"})`;
    t.diagnostic(note);
    console.log(`uws TLS order: ${note}`);
    assert.deepEqual(problems, []);
  });

  it('ECDSA certificate: ECDHE-ECDSA AEAD suites and TLS 1.3 work, CBC does not; HTTPS serves', { skip: noOpenssl }, async (t) => {
    const cert = await selfSignedCertificate(t);
    const server = await startTestServer(t, ['--http', 'uws', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile]);
    const problems: string[] = [];
    for (const weak of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256']) {
      const h = await sClient(server.port, ['-tls1_2', '-cipher', weak]);
      if (h.cipher !== null) problems.push(`${weak} was accepted (${h.protocol} ${h.cipher})`);
    }
    const ecSuites = OFFERED.filter((c) => c.startsWith('ECDHE-ECDSA-'));
    assert.ok(ecSuites.length >= 2, `TLS12_CIPHERS has ${ecSuites.length} ECDHE-ECDSA suites`);
    for (const suite of ecSuites) {
      const h = await sClient(server.port, ['-tls1_2', '-cipher', suite]);
      if (h.protocol !== 'TLSv1.2' || h.cipher !== suite) problems.push(`${suite}: ${h.cipher ?? h.failure}`);
    }
    const tls13 = await sClient(server.port, ['-tls1_3']);
    if (tls13.protocol !== 'TLSv1.3') problems.push(`TLS 1.3: ${tls13.protocol ?? tls13.failure}`);
    assert.deepEqual(problems, []);
    const r = await fetchOnce(server.port, '/healthz', { ca: cert.certPem });
    assert.equal(r.status, 200);
  });
});
