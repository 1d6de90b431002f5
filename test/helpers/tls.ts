/**
 * TLS for https tests: a fixed self-signed certificate (TEST_CERT, TEST_KEY), and one made fresh
 * with openssl into a temporary folder (selfSignedCertificate), for tests that pass files to the
 * server's --tls-cert/--tls-key.
 */

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

/**
 * A self-signed certificate for 127.0.0.1 (EC P-256, valid 2000-2100, CA:TRUE so it can be
 * trusted as its own CA), for https tests only. Generated once with:
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ...
 *   openssl ca -selfsign -startdate 20000101000000Z -enddate 21000101000000Z (SAN IP:127.0.0.1)
 * The key protects nothing: it is public in this repository.
 */

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5mcmFtZXJp
bmcgdGVzdDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGTEXMBUG
A1UEAwwOZnJhbWVyaW5nIHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQc
ilwSi8LW2ByGD7h85yuwIfTAitapld+JDNS3bfpZSeP8n1qdykwVSOJTXWn6tZLC
dayYB3hgqJGyQ9UL7NvXo1AwTjAPBgNVHREECDAGhwR/AAABMA8GA1UdEwEB/wQF
MAMBAf8wCwYDVR0PBAQDAgKEMB0GA1UdDgQWBBTU/Zx+oK9xXdXXbUlHtBdxP2sC
sjAKBggqhkjOPQQDAgNIADBFAiAiTl4ehCqmd8N6I/hTjIs2YQxz36cu7RaSs10B
PtQU+wIhAO3qBLkVBtvn+aOr3wa7y0SY4+gUFDVa5VfffBYVGC2j
-----END CERTIFICATE-----
`;

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4csZJBSYb9EojxGV
jbHW7oph0sNe5QdkeuNM11F8GRWhRANCAAQcilwSi8LW2ByGD7h85yuwIfTAitap
ld+JDNS3bfpZSeP8n1qdykwVSOJTXWn6tZLCdayYB3hgqJGyQ9UL7NvX
-----END PRIVATE KEY-----
`;

/**
 * A self-signed certificate for 127.0.0.1, made now with openssl in a temporary folder removed
 * when the test ends. Returns the files and the certificate's PEM (to trust as CA). An EC key by
 * default; an RSA one where a test needs the static-RSA suites to be possible at all.
 */
export async function selfSignedCertificate(
  t: TestContext,
  { key = 'ec' }: { key?: 'ec' | 'rsa' } = {},
): Promise<{ certFile: string; keyFile: string; certPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await promisify(execFile)(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      ...(key === 'rsa' ? ['rsa:2048'] : ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']),
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=framering test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { timeout: 10_000 },
  );
  return { certFile, keyFile, certPem: await readFile(certFile, 'utf8') };
}
