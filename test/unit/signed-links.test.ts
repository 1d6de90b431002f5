/**
 * Signed links: what `framering sign` prints and what the server accepts. Every way a link can
 * be wrong gets its own one-line reason; key rotation keeps old links working; the link's fps
 * cap is signed.
 */

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ConfigError } from '../../src/core/errors.js';
import { readUrlSecretFile } from '../../src/app/option-parsers.js';
import { signCommand } from '../../src/app/sign.js';
import { hasSignature, LinkVerifier, signLink } from '../../src/server/signed-links.js';

const OLD = 'old-key-0123456789abcdef';
const NEW = 'new-key-0123456789abcdef';
const NOW = Date.parse('2026-12-06T12:00:00Z');
const HOUR = 3_600_000;
const FRONT = '/cameras/front/video_feed';
const BACK = '/cameras/back/video_feed';

const verifier = (keys = [NEW, OLD], now = NOW): LinkVerifier => new LinkVerifier(keys, () => now);
const reason = (r: ReturnType<LinkVerifier['check']>): string => (r.ok ? 'ok' : r.reason);

async function keyFile(t: TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'keys');
  await writeFile(file, text);
  return file;
}

describe('signed links', () => {
  it('a link made with any of the keys verifies, until its expiry, and carries its fps cap', () => {
    const q = signLink(OLD, FRONT, NOW + HOUR, 5);
    assert.match(q, /^exp=\d+&fps=5&sig=[A-Za-z0-9_-]{43}$/);
    const r = verifier().check(FRONT, q);
    assert.deepEqual(r, { ok: true, grant: { expiresAt: NOW + HOUR, maxFps: 5 } });
    assert.equal(reason(verifier([NEW, OLD], NOW + HOUR).check(FRONT, q)), `the link expired at ${new Date(NOW + HOUR).toISOString()}`);
    // Once the old key is dropped from the file, its links stop working.
    assert.equal(reason(verifier([NEW]).check(FRONT, q)), 'the signature does not match (another key, or the link was altered)');
  });

  it('altered, for another camera, unsigned additions, malformed: each refused with its reason', () => {
    const q = signLink(NEW, FRONT, NOW + HOUR);
    const v = verifier();
    const altered = q.replace(/exp=(\d+)/, (_, e: string) => `exp=${Number(e) + 3600}`);
    assert.equal(reason(v.check(FRONT, altered)), 'the signature does not match (another key, or the link was altered)');
    assert.equal(
      reason(v.check(FRONT, `${q.replace('&sig', '&fps=30&sig')}`)),
      'the signature does not match (another key, or the link was altered)',
    );
    assert.equal(reason(v.check(BACK, q, [FRONT, BACK])), 'the link is for another camera');
    assert.equal(
      reason(v.check('/cameras/front/snapshot', q, ['/cameras/front/snapshot'])),
      'the signature does not match (another key, or the link was altered)',
    );
    assert.equal(reason(v.check(FRONT, `${q}&user=admin`)), 'unsigned parameter "user" in a signed link');
    assert.equal(reason(v.check(FRONT, `${q}&exp=1`)), 'parameter exp given twice in a signed link');
    assert.equal(reason(v.check(FRONT, q.replace(/exp=\d+/, 'exp=soon'))), 'malformed link: exp is missing or not Unix seconds');
    assert.equal(reason(v.check(FRONT, q.replace(/sig=.*/, 'sig=abc'))), 'malformed link: sig is not a signature');
    // A signature made with a key the server never had looks like an altered one.
    assert.equal(
      reason(v.check(FRONT, signLink('some-other-key-0123456789', FRONT, NOW + HOUR))),
      'the signature does not match (another key, or the link was altered)',
    );
  });

  it('the signature is what docs/access.md says, so other code can sign links', () => {
    const msg = 'framering-link-v1\n/cameras/front/video_feed\n1800000000\n5\nn1';
    const sig = createHmac('sha256', NEW).update(msg).digest('base64url');
    assert.equal(signLink(NEW, FRONT, 1_800_000_000_000, 5, 'n1'), `exp=1800000000&fps=5&r=n1&sig=${sig}`);
    const bare = createHmac('sha256', NEW).update('framering-link-v1\n/cameras/front/video_feed\n1800000000\n').digest('base64url');
    assert.equal(signLink(NEW, FRONT, 1_800_000_000_000), `exp=1800000000&sig=${bare}`);
  });

  it('only a query with sig is a signed request', () => {
    assert.equal(hasSignature('exp=1&sig=x'), true);
    assert.equal(hasSignature('fps=5'), false);
    assert.equal(hasSignature('design=1'), false);
  });
});

describe('--url-secret-file', () => {
  it('one key per line, comments, a BOM and CR line ends tolerated', async (t) => {
    const file = await keyFile(t, `\uFEFF# rotated 2026-12\r\n${NEW}\r\n\r\n  ${OLD}  \r`);
    assert.deepEqual(readUrlSecretFile(file), [NEW, OLD]);
  });

  it('a short key, an empty file or a missing one: one line naming the file and line', async (t) => {
    assert.throws(
      () => readUrlSecretFile('/nonexistent/keys'),
      /^ConfigError: invalid --url-secret-file "\/nonexistent\/keys": cannot read the file \(ENOENT\)$/,
    );
    const short = await keyFile(t, `${NEW}\nshort\n`);
    assert.throws(() => readUrlSecretFile(short), /line 2 is shorter than 16 bytes/);
    const empty = await keyFile(t, '# nothing\n\n');
    assert.throws(() => readUrlSecretFile(empty), /no key in it$/);
  });
});

describe('framering sign', () => {
  it('prints the camera route signed with the first key, valid for the ttl, with a base and fps', async (t) => {
    const file = await keyFile(t, `${NEW}\n${OLD}\n`);
    const link = signCommand(
      ['--url-secret-file', file, '--camera', 'front', '--ttl', '30m', '--fps', '2', '--base', 'https://cam.example.org/'],
      {},
      NOW,
    );
    assert.equal(typeof link, 'string');
    const url = new URL(link as string);
    assert.equal(url.origin + url.pathname, `https://cam.example.org${FRONT}`);
    assert.deepEqual(verifier([NEW]).check(url.pathname, url.search.slice(1)), {
      ok: true,
      grant: { expiresAt: NOW + 30 * 60_000, maxFps: 2 },
    });
    const snap = signCommand(['--url-secret-file', file, '--snapshot', '--expires', '2026-12-07T00:00:00Z'], {}, NOW) as string;
    assert.match(snap, /^\/snapshot\?exp=1796601600&sig=/);
    // The environment names the file too.
    assert.match(signCommand([], { FRAMERING_URL_SECRET_FILE: file }, NOW) as string, /^\/video_feed\?exp=\d+&sig=/);
  });

  it('bad options: one line naming the option', async (t) => {
    const file = await keyFile(t, `${NEW}\n`);
    const bad = (args: string[], pattern: RegExp): void =>
      assert.throws(
        () => signCommand(['--url-secret-file', file, ...args], {}, NOW),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    bad(['--ttl', '1y'], /^invalid --ttl "1y"/);
    bad(['--ttl', '0s'], /^invalid --ttl "0s"/);
    bad(['--expires', '2020-01-01T00:00:00Z'], /that time has passed/);
    bad(['--expires', 'tomorrow'], /^invalid --expires "tomorrow"/);
    bad(['--ttl', '1h', '--expires', '2027-01-01T00:00:00Z'], /give one of them/);
    bad(['--fps', '0'], /^invalid --fps "0"/);
    bad(['--base', 'ftp://x'], /expected http:\/\/ or https:\/\//);
    bad(['--camera', ''], /^invalid --camera ""/);
    bad(['--nope'], /Unknown option '--nope'/);
    assert.throws(() => signCommand([], {}, NOW), /missing --url-secret-file FILE/);
  });
});
