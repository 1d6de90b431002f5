/** Options: defaults, precedence of command line over environment, parsing of values. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, type Config } from '../../src/app/config.js';
import { OPTIONS } from '../../src/app/options.js';
import { ConfigError } from '../../src/core/errors.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const r = parseConfig(argv, env);
  assert.equal(r.kind, 'run');
  return (r as { config: Config }).config;
}

describe('parseConfig', () => {
  it('defaults match the original design (port 5000, emulated camera, 10 s idle)', () => {
    const c = config([]);
    assert.equal(c.port, 5000);
    assert.equal(c.camera, 'emulated');
    assert.equal(c.idleTimeoutMs, 10_000);
    assert.equal(c.ringSlots, 8);
    assert.equal(c.maxFrameBytes, OPTIONS['max-frame-bytes'].default);
    assert.equal(c.maxFrameBytes, 2 * 1024 * 1024);
    assert.ok(c.maxFrameBytes >= 1024 * 1024, 'room for a 1080p JPEG');
    assert.equal(c.fps, undefined);
    assert.equal(c.source, undefined);
  });

  it('reads CAMERA and FRAMERING_* variables; the command line wins', () => {
    const env = { CAMERA: 'files', FRAMERING_SOURCE: '/frames', FRAMERING_FPS: '12.5', FRAMERING_PORT: '8080' };
    const c = config(['--port', '9090'], env);
    assert.equal(c.camera, 'files');
    assert.equal(c.source, '/frames');
    assert.equal(c.fps, 12.5);
    assert.equal(c.port, 9090);
  });

  it('an empty environment variable counts as unset', () => {
    assert.equal(config([], { FRAMERING_PORT: '' }).port, 5000);
  });

  it('parses sizes with K/M/G suffixes and fractional seconds', () => {
    const c = config(['--max-frame-bytes', '4M', '--idle-timeout', '0.25']);
    assert.equal(c.maxFrameBytes, 4 * 1024 * 1024);
    assert.equal(c.idleTimeoutMs, 250, 'seconds given, milliseconds kept');
    assert.equal(config(['--max-frame-bytes', '512k']).maxFrameBytes, 512 * 1024);
    assert.equal(config(['--max-frame-bytes', '65536']).maxFrameBytes, 65536);
  });

  it('durations are given in seconds and kept in milliseconds', () => {
    const c = config(['--slow-client-timeout', '2.5', '--no-signal-after', '0'], { FRAMERING_IDLE_TIMEOUT: '3' });
    assert.equal(c.slowClientTimeoutMs, 2500);
    assert.equal(c.noSignalAfterMs, 0);
    assert.equal(c.idleTimeoutMs, 3000);
    const d = config([]);
    assert.deepEqual([d.slowClientTimeoutMs, d.noSignalAfterMs], [30_000, 5000]);
  });

  it('the result is frozen', () => {
    const c = config([]);
    assert.ok(Object.isFrozen(c));
  });

  it('errors are ConfigErrors with a stable code, naming the option', () => {
    for (const [argv, name] of [
      [['--fps', '1e3x'], '--fps'],
      [['--port', '1.5'], '--port'],
      [['--ring-slots', '2000'], '--ring-slots'],
      [['--max-frame-bytes', '100'], '--max-frame-bytes'],
      [['--host', ' '], '--host'],
    ] as const) {
      assert.throws(
        () => parseConfig([...argv], {}),
        (err: unknown) => err instanceof ConfigError && err.code === 'ERR_FRAMERING_CONFIG' && err.message.includes(name),
        argv.join(' '),
      );
    }
  });

  it('--help and --version are recognised', () => {
    assert.equal(parseConfig(['--help'], {}).kind, 'help');
    assert.equal(parseConfig(['-h'], {}).kind, 'help');
    assert.equal(parseConfig(['--version'], {}).kind, 'version');
  });
});

describe('--camera specs that carry credentials', () => {
  /** The ConfigError message parseConfig throws for `--camera spec`. */
  function specError(spec: string): string {
    try {
      parseConfig(['--camera', spec], {});
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.doesNotMatch(err.message, /\n/);
      return err.message;
    }
    assert.fail(`--camera ${spec} was accepted`);
  }

  it('an error quotes the spec with the password masked', () => {
    // The spec, password included, was quoted as given.
    const message = specError('door=http,source=http://cam:secretpw@host/x,junk');
    assert.doesNotMatch(message, /secretpw/);
    assert.match(message, /^invalid --camera "door=http,source=http:\/\/\*\*\*@host\/x,junk": expected NAME=DRIVER\[,option=value\.\.\.\]/);
    assert.match(message, /%2C/);
  });

  it('a comma in a password: no piece of the password is quoted, and the error says to write %2C', () => {
    // The comma split the spec inside the password, and the error quoted the piece after it.
    for (const spec of ['door=http,source=http://cam:secret,pw9876@host/x', 'door=http,source=http://cam:secret,fps=pw9876@host/x']) {
      const message = specError(spec);
      assert.doesNotMatch(message, /secret|pw9876/, message);
      assert.match(
        message,
        /^invalid --camera "door=http,source=http:\/\/\*\*\*@host\/x": .*a comma inside a value, such as a password in a URL, is written %2C/,
      );
    }
  });

  it('a percent-encoded comma is accepted, and reaches the driver as written (the URL decodes it)', () => {
    const c = config(['--camera', 'door=http,source=http://cam:secret%2Cpw@host/x,fps=5']);
    assert.equal(c.cameras[0]!.source, 'http://cam:secret%2Cpw@host/x');
    assert.equal(c.cameras[0]!.fps, 5);
  });

  it('a URL given as the driver, or options without a camera name: masked too', () => {
    for (const spec of ['http://cam:secretpw@host/x', 'door=http://cam:secretpw@host/x', 'http,source=http://cam:secretpw@host/x']) {
      const message = specError(spec);
      assert.doesNotMatch(message, /secretpw/, message);
      assert.match(message, /\*\*\*@host\/x/);
    }
  });

  it('without credentials a spec error still quotes the bad part', () => {
    assert.match(specError('a=emulated,fps'), /^invalid --camera "a=emulated,fps": expected NAME=DRIVER\[,option=value\.\.\.\], got "fps"/);
    assert.match(specError('a=emulated,colour=red'), /option "colour" for camera "a"/);
  });
});
