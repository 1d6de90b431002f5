/**
 * NATS settings as users write them: server lists with credentials and TLS, subjects, the access
 * files, and the start-up checks of --publish and the nats camera. Each refusal is one line naming
 * the option, without the password.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateCameras } from '../../src/app/cameras.js';
import { type Config, parseConfig } from '../../src/app/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { cameraSubject, natsConnectionOptions, NO_NATS_ACCESS, parseNatsServers, watchingSubject } from '../../src/drivers/nats-link.js';
import { checkDriver } from '../../src/drivers/registry.js';
import { UNSET_DRIVER_OPTIONS } from '../../src/drivers/types.js';

function config(argv: string[]): Config {
  const r = parseConfig(argv, {});
  assert.equal(r.kind, 'run');
  return (r as { config: Config }).config;
}

function refusal(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
}

describe('NATS server lists', () => {
  it('takes one server or a comma-separated cluster, port 4222 by default', () => {
    const s = parseNatsServers('nats://a.example, nats://b.example:4223,nats://10.0.0.3', '--publish');
    assert.deepEqual(s.servers, ['a.example:4222', 'b.example:4223', '10.0.0.3:4222']);
    assert.equal(s.tls, false);
    assert.equal(s.display, 'nats://a.example:4222,nats://b.example:4223,nats://10.0.0.3:4222');
  });

  it('takes user:password@ or token@ from the URL, percent-decoded, and masks them in what it shows', async () => {
    const s = parseNatsServers('nats://cam:p%40ss%2Cs3cret@hub.example:4222,nats://hub2.example', '--publish');
    assert.equal(s.user, 'cam');
    assert.equal(s.pass, 'p@ss,s3cret');
    assert.equal(s.display, 'nats://***@hub.example:4222,nats://hub2.example:4222');
    const t = parseNatsServers('tls://s3cret-token@hub.example', '--source');
    assert.equal(t.token, 's3cret-token');
    assert.equal(t.user, undefined);
    assert.equal(t.tls, true);
    const options = await natsConnectionOptions(s, NO_NATS_ACCESS, 'test');
    assert.equal(options.user, 'cam');
    assert.deepEqual(options.servers, ['hub.example:4222', 'hub2.example:4222']);
    assert.equal(options.tls, null);
    assert.equal(options.maxReconnectAttempts, -1, 'the connection must outlive any one server');
  });

  it('refuses what is not a NATS server list, in one line without the password', () => {
    refusal(() => parseNatsServers(undefined, '--source'), /^missing --source: give the NATS server/);
    refusal(
      () => parseNatsServers('http://cam:s3cret@hub/x', '--publish'),
      /^invalid --publish: "http:\/\/\*\*\*@hub\/x" is not a NATS URL/,
    );
    refusal(() => parseNatsServers('nats://cam:s3cret@hub/frames', '--publish'), /without a path or query/);
    refusal(() => parseNatsServers('nats://cam:s3cret@', '--publish'), /is not a URL/);
    refusal(() => parseNatsServers('nats://a:s3cret@h1,nats://b:other@h2', '--publish'), /server 2 has other credentials than the first/);
  });
});

describe('subjects', () => {
  it('derives framering.NAME from the camera, takes an override, and refuses wildcards and spaces', () => {
    assert.equal(cameraSubject('door', undefined, 'x'), 'framering.door');
    assert.equal(cameraSubject('door', 'site1.cams.door', 'x'), 'site1.cams.door');
    assert.equal(watchingSubject('framering.door'), 'framering.door.watching');
    for (const bad of ['site.*', 'site.>', 'a..b', 'has space', '.lead'])
      refusal(() => cameraSubject('door', bad, '--subject'), /^invalid subject/);
  });

  it('every camera gets its subject, per camera or from --subject; two cameras may not share one', async () => {
    const c = config(['--camera', 'door=nats,source=nats://hub', '--camera', 'yard=nats,source=nats://hub,subject=site1.yard']);
    assert.deepEqual(
      c.cameras.map((cam) => cam.subject),
      ['framering.door', 'site1.yard'],
    );
    await assert.rejects(
      validateCameras(config(['--subject', 'same', '--camera', 'a=emulated', '--camera', 'b=emulated'])),
      /^ConfigError: invalid subject "same": cameras "a" and "b" would share it/,
    );
  });
});

describe('--publish and the nats camera at start', () => {
  it('parses --publish and the access files into the config', () => {
    const c = config(['--publish', 'nats://hub:4222']);
    assert.deepEqual(c.publish?.servers, ['hub:4222']);
    assert.deepEqual(c.nats, NO_NATS_ACCESS);
  });

  it('refuses unreadable or wrong access files, and a certificate without its key, by name', () => {
    refusal(
      () => config(['--nats-ca', '/nonexistent/ca.pem']),
      /^invalid --nats-ca "\/nonexistent\/ca.pem": cannot read the file \(ENOENT\)/,
    );
    refusal(
      () => config(['--nats-cert', '/etc/hostname']),
      /^invalid --nats-cert: a NATS client certificate needs both --nats-cert and --nats-key/,
    );
    const notCreds = join(tmpdir(), `framering-not-creds-${process.pid}`);
    writeFileSync(notCreds, 'user: me\n');
    refusal(() => config(['--nats-creds', notCreds]), /^invalid --nats-creds ".*": not a NATS credentials file/);
  });

  it('the nats camera needs a server list and honours no capture options', async () => {
    await assert.rejects(checkDriver('nats', { ...UNSET_DRIVER_OPTIONS }), /^ConfigError: missing --source: give the NATS server/);
    await assert.rejects(
      checkDriver('nats', { ...UNSET_DRIVER_OPTIONS, source: 'nats://hub', width: 640 }),
      /^ConfigError: invalid --width: the nats camera cannot honour it/,
    );
    await checkDriver('nats', { ...UNSET_DRIVER_OPTIONS, source: 'nats://hub', subject: 'framering.default' });
    // Any camera may carry a subject: --publish sends its frames there.
    await checkDriver('emulated', { ...UNSET_DRIVER_OPTIONS, subject: 'framering.default' });
  });
});
