/**
 * Files of secrets and driver modules as an attacker on the same machine would leave them: a FIFO
 * in place of the auth file (it blocked the start for ever), an auth file every user can write to
 * or reach through a symbolic link, a driver module in a folder anyone can write to while the
 * server runs as root, and a bare `--camera mine.js` (looked up in whatever folder the server was
 * started from). Each is refused in one line or warned about at start.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { type Config, parseConfig } from '../../src/app/config.js';
import { driverModuleWarnings, loadDriverModule } from '../../src/drivers/registry.js';
import { startTestServer } from '../helpers/server.js';

function folder(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'framering-secrets-'));
  chmodSync(dir, 0o700);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function config(argv: string[]): Config {
  const r = parseConfig(argv, {});
  assert.equal(r.kind, 'run');
  return (r as { config: Config }).config;
}

describe('secrets files and driver modules', () => {
  test('a FIFO as --auth-file is refused at once, not waited on for ever', { timeout: 5000 }, (t) => {
    const fifo = join(folder(t), 'users');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => config(['--auth-file', fifo]), /^ConfigError: invalid --auth-file ".*users": not a regular file$/);
    assert.throws(() => config(['--url-secret-file', fifo]), /^ConfigError: invalid --url-secret-file ".*": not a regular file$/);
  });

  test('an auth file every user can write to, or reached through a link, is warned about at start', async (t) => {
    const dir = folder(t);
    const file = join(dir, 'users');
    writeFileSync(file, 'alice:s3cret-pass\n');
    chmodSync(file, 0o666);
    const link = join(dir, 'users-link');
    symlinkSync(file, link);
    assert.deepEqual(config(['--auth-file', join(dir, 'users')]).warnings.length, 1);
    const warnings = config(['--auth-file', link]).warnings;
    assert.ok(
      warnings.some((w) => /^--auth-file ".*users-link" is a symbolic link/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /writable by every user: chmod o-w/.test(w)),
      warnings.join('\n'),
    );

    chmodSync(file, 0o600);
    assert.deepEqual(config(['--auth-file', file]).warnings, [], 'a private file is no reason to warn');

    chmodSync(file, 0o666);
    const ts = await startTestServer(t, ['--auth-file', file, '--lockout-attempts', '0']);
    const line = await ts.waitForLog(/warn .*--auth-file ".*users" is writable by every user/);
    assert.doesNotMatch(line, /s3cret/);
  });

  test('a driver module in a folder anyone can write to is warned about when running as root', {
    skip: process.getuid?.() === 0 ? false : 'needs root',
  }, (t) => {
    const open = join(folder(t), 'shared');
    mkdirSync(open);
    chmodSync(open, 0o777); // no sticky bit: anyone may replace what is in it
    const module = join(open, 'driver.js');
    writeFileSync(module, 'export function createDriver() { throw new Error("unused"); }\n');
    assert.match(
      driverModuleWarnings(module).join('\n'),
      /driver module .*driver\.js is in a folder every user can write to, and framering runs as root/,
    );
    chmodSync(open, 0o1777); // sticky, like /tmp: only the owner may replace the file
    assert.deepEqual(driverModuleWarnings(module), []);
    chmodSync(module, 0o666);
    assert.match(driverModuleWarnings(module).join('\n'), /is writable by every user, and framering runs as root/);
  });

  test('a bare --camera mine.js is refused with the path form to use, even if ./mine.js exists', async (t) => {
    const dir = folder(t);
    writeFileSync(join(dir, 'mine.js'), 'export function createDriver() { throw new Error("must not load"); }\n');
    const cwd = process.cwd();
    process.chdir(dir);
    t.after(() => process.chdir(cwd));
    await assert.rejects(
      loadDriverModule('mine.js'),
      /^ConfigError: invalid --camera "mine\.js": expected one of .*, or a path to a driver module \(a module is given by its path: \.\/mine\.js\)$/,
    );
    const mod = await loadDriverModule('./mine.js');
    assert.equal(typeof mod.createDriver, 'function');
  });
});
