/**
 * The auth file's lines (users, their cameras and role) and Basic credentials checked against
 * them: what a user writes, what they get, and one line naming the line for what is wrong.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseConfig } from '../../src/app/config.js';
import { readAuthFile } from '../../src/app/option-parsers.js';
import { BasicAuth, roleOf } from '../../src/server/auth.js';
import { basic } from '../helpers/http.js';

async function file(t: TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-users-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'users'), text);
  return join(dir, 'users');
}

describe('--auth-file', () => {
  it('users with their cameras and role; a BOM, CR line ends and spaces around are tolerated', async (t) => {
    const users = readAuthFile(
      await file(
        t,
        '\uFEFF# users\r\n  alice:pa:ss  \r\nbob:builder cameras=front,door\rcarol:x1 role=viewer\ndave:x2 cameras=door role=admin\n',
      ),
    );
    assert.deepEqual(
      users.map((u) => [u.user, u.password, u.cameras ?? 'all', roleOf(u)]),
      [
        ['alice', 'pa:ss', 'all', 'admin'],
        ['bob', 'builder', ['front', 'door'], 'viewer'],
        ['carol', 'x1', 'all', 'viewer'],
        ['dave', 'x2', ['door'], 'admin'],
      ],
    );
  });

  it('what is wrong, named with its line', async (t) => {
    const bad = async (text: string, pattern: RegExp): Promise<void> => {
      const path = await file(t, text);
      assert.throws(
        () => readAuthFile(path),
        (e: Error) => pattern.test(e.message) && !e.message.includes('\n'),
      );
    };
    await bad('alice:one\nbob\n', /line 2 is not USER:PASSWORD/);
    await bad(
      'alice:one two\n',
      /line 1: unexpected "two" \(after USER:PASSWORD only cameras=NAME,\.\.\. and role=admin\|viewer, once each; a password here cannot contain spaces\)/,
    );
    await bad('alice:one role=boss\n', /line 1: unexpected "role=boss"/);
    await bad('alice:one cameras=a cameras=b\n', /line 1: unexpected "cameras=b"/);
    await bad('alice:one\nalice:two\n', /line 2: user "alice" is already given/);
    await bad('# only a comment\n', /no USER:PASSWORD lines/);
  });

  it('a camera the configuration does not have, and a user in both --auth and the file, are refused at start', async (t) => {
    const path = await file(t, 'bob:builder cameras=frnt\n');
    assert.throws(
      () => parseConfig(['--auth-file', path, '--camera', 'front=emulated'], {}),
      /^ConfigError: invalid --auth-file ".*": user "bob" names camera "frnt", which is not configured \(front\)$/,
    );
    const twice = await file(t, 'bob:builder\n');
    assert.throws(
      () => parseConfig(['--auth-file', twice, '--auth', 'bob:other'], {}),
      /invalid --auth: user "bob" is also in --auth-file/,
    );
  });
});

describe('BasicAuth', () => {
  it('who a header authenticates, looked up by name; anything else is null', () => {
    const auth = new BasicAuth([
      { user: 'alice', password: 'pa:ss' },
      { user: 'bob', password: 'builder', cameras: ['front'] },
    ]);
    assert.deepEqual(auth.check(basic('alice:pa:ss')), { user: 'alice', admin: true, cameras: null });
    assert.deepEqual(auth.check(basic('bob:builder')), { user: 'bob', admin: false, cameras: new Set(['front']) });
    for (const header of [basic('alice:pa'), basic('bob:pa:ss'), basic('eve:builder'), basic('alice'), 'Bearer x', '', undefined])
      assert.equal(auth.check(header), null, String(header));
  });

  it('100,000 users: the right one is found by name, an unknown name is refused', () => {
    const many = new BasicAuth(Array.from({ length: 100_000 }, (_, i) => ({ user: `user${i}`, password: `pw${i}` })));
    assert.equal(many.check(basic('user99999:pw99999'))?.user, 'user99999');
    assert.equal(many.check(basic('nobody:pw1')), null);
  });
});
