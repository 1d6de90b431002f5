/**
 * The Host check against DNS rebinding (host-check.ts), its options (--allowed-hosts,
 * --frame-ancestors) and the start-up warning for a server open to its network, without sockets.
 * The attack itself, on both front ends: test/integration/allowed-hosts.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, type Config } from '../../src/app/config.js';
import { httpSettings, machineNames, openAccessWarning } from '../../src/app/http-settings.js';
import { ConfigError } from '../../src/core/errors.js';
import { HostCheck, hostOf } from '../../src/server/host-check.js';

function config(argv: string[]): Config {
  const r = parseConfig(argv, {});
  assert.equal(r.kind, 'run');
  return (r as { config: Config }).config;
}

describe('Host check', () => {
  it('reads the host part of a Host header: lower case, no port, IPv6 unbracketed; null if it is not one', () => {
    for (const [header, host] of [
      ['127.0.0.1:5000', '127.0.0.1'],
      ['[::1]:80', '::1'],
      ['[FE80::1]', 'fe80::1'],
      ['Cam.Example.org', 'cam.example.org'],
      ['cam.local.:5000', 'cam.local'],
      ['pi_cam', 'pi_cam'],
      ['::1', null],
      ['[::1', null],
      ['[127.0.0.1]', null],
      ['cam:port', null],
      ['cam:123456', null],
      ['user@cam', null],
      ['cam/x', null],
      ['a..b', null],
      ['a b', null],
      [`${'a'.repeat(64)}.example`, null],
    ] as const)
      assert.equal(hostOf(header), host, header);
  });

  it('allows its names, any address and a missing Host; refuses every other name', () => {
    const check = new HostCheck(['localhost', 'pi', 'pi.local', 'cam.example.org', '*.home.example']);
    for (const h of [
      undefined,
      '',
      'localhost:5000',
      'PI',
      'pi.local.',
      'cam.example.org:443',
      'a.b.home.example',
      '10.1.2.3:80',
      '[fd00::2]:5000',
    ])
      assert.ok(check.allows(h), String(h));
    for (const h of ['evil.example', 'pi.evil.example', 'localhost.evil.example', 'home.example', 'xhome.example', '2130706433', 'pi:x'])
      assert.ok(!check.allows(h), h);
  });

  it("the default names: localhost, the machine's name, its first label, NAME.local, and --host when it is a name", () => {
    assert.deepEqual(machineNames('0.0.0.0', 'RaspberryPi'), ['localhost', 'raspberrypi', 'raspberrypi.local']);
    assert.deepEqual(machineNames('::', 'cam.lan.example'), ['localhost', 'cam.lan.example', 'cam', 'cam.local']);
    assert.deepEqual(machineNames('camera-host', 'pi'), ['localhost', 'pi', 'pi.local', 'camera-host']);
    assert.deepEqual(machineNames('192.0.2.4', 'pi.local'), ['localhost', 'pi.local', 'pi']);
  });

  it('--allowed-hosts adds to the defaults; * turns the check off', () => {
    const settings = (argv: string[]) => httpSettings(config(argv), { version: 't', hostname: 'pi' });
    assert.deepEqual(settings([]).allowedHosts, ['localhost', 'pi', 'pi.local']);
    assert.deepEqual(settings(['--allowed-hosts', 'Cam.Example.org, *.home.example,[FD00::1]']).allowedHosts, [
      'localhost',
      'pi',
      'pi.local',
      'cam.example.org',
      '*.home.example',
      'fd00::1',
    ]);
    assert.equal(settings(['--allowed-hosts', '*']).allowedHosts, null);
    assert.ok(Object.isFrozen(settings([]).allowedHosts));
  });

  it('a bad --allowed-hosts entry stops the start with one line naming the option', () => {
    // '*' allows any Host only alone: in a list it is a slip.
    for (const bad of ['http://cam.example.org', 'cam.example.org:8080', 'cam,', 'a b', '*,cam', '*.', 'cam/x']) {
      assert.throws(
        () => config(['--allowed-hosts', bad]),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^invalid --allowed-hosts ".*": ".*" is not a host name or address/.test(e.message) &&
          !e.message.includes('\n'),
        bad,
      );
    }
  });

  it("--frame-ancestors: CSP sources, 'self' by default, quotes optional on self and none, nothing that ends the directive", () => {
    assert.equal(config([]).frameAncestors, "'self'");
    assert.equal(config(['--frame-ancestors', "'self' https://ha.example.com"]).frameAncestors, "'self' https://ha.example.com");
    assert.equal(config(['--frame-ancestors', 'self,https://*.example.com:8123']).frameAncestors, "'self' https://*.example.com:8123");
    assert.equal(config(['--frame-ancestors', 'NONE']).frameAncestors, "'none'");
    assert.equal(config(['--frame-ancestors', '* https:']).frameAncestors, '* https:');
    for (const bad of [
      "'self'; script-src *",
      'https://a.example "x"',
      "'none' 'self'",
      '',
      "'unsafe-inline'",
      'https://a.example\nX-Evil: 1',
    ])
      assert.throws(
        () => config(['--frame-ancestors', bad]),
        (e: unknown) => e instanceof ConfigError && /^invalid --frame-ancestors/.test(e.message),
        JSON.stringify(bad),
      );
  });

  it('warns at start when serving without authentication beyond loopback, in one line naming what to do', () => {
    const open = { host: '0.0.0.0', auth: [], urlKeys: [] };
    const warning = openAccessWarning(open);
    assert.ok(warning !== null && !warning.includes('\n'));
    assert.match(warning, /^serving without authentication on 0\.0\.0\.0: .*set --auth-file .*--host 127\.0\.0\.1/);
    assert.notEqual(openAccessWarning({ ...open, host: '192.168.1.5' }), null);
    assert.notEqual(openAccessWarning({ ...open, host: '::' }), null);
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost'])
      assert.equal(openAccessWarning({ ...open, host }), null, host);
    assert.equal(openAccessWarning({ ...open, auth: [{ user: 'a', password: 'b' }] as never }), null);
    assert.equal(openAccessWarning({ ...open, urlKeys: ['k'.repeat(32)] }), null);
  });
});
