/**
 * The http driver's options and rate cap, without a socket: --source parsing and checks (secrets
 * never shown), the timeout variables, and RateCap (--fps) on made-up arrival times. The driver
 * on real sockets is test/integration/driver-http.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/errors.js';
import { BUILTIN_DRIVERS, checkDriver } from '../../src/drivers/registry.js';
import { parseSource, RateCap, settingsFromEnv, supports } from '../../src/drivers/http.js';
import { UNSET_DRIVER_OPTIONS, type DriverOptions } from '../../src/drivers/types.js';

function options(source: string, extra: Partial<DriverOptions> = {}): DriverOptions {
  return { ...UNSET_DRIVER_OPTIONS, source, ...extra };
}

describe('http driver options', () => {
  test('is a built-in driver that takes --source and --fps, and nothing else', async () => {
    assert.ok(BUILTIN_DRIVERS.includes('http'));
    assert.deepEqual([...supports], ['source', 'fps']);
    await checkDriver('http', options('http://127.0.0.1:9/video_feed', { fps: 5 }));
    await assert.rejects(checkDriver('http', options('http://127.0.0.1:9/x', { width: 640 })), {
      message: 'invalid --width: the http camera cannot honour it (it takes: --source, --fps)',
    });
  });

  test('a missing, malformed or non-http --source is a one-line ConfigError naming --source', async () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /^missing --source: the http camera needs the URL of an MJPEG stream/],
      ['not a url', /^invalid --source "not a url": not a URL/],
      ['rtsp://cam.local/stream', /^invalid --source "rtsp:\/\/cam.local\/stream": expected an http:\/\/ or https:\/\/ URL, not rtsp:\/\//],
      ['file:///tmp/x.mjpeg', /^invalid --source "file:\/\/\/tmp\/x.mjpeg": expected an http:\/\/ or https:\/\/ URL/],
      ['http://cam.local:99999/', /^invalid --source "http:\/\/cam.local:99999\/": not a URL/],
    ];
    for (const [source, message] of cases) {
      await assert.rejects(checkDriver('http', options(source as string)), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `${source}: ${String(err)}`);
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
  });

  test('credentials never appear in a ConfigError', async () => {
    for (const source of [
      'ftp://admin:hunter2222@cam.local/x',
      'http://admin:hunter2222@cam.local:notaport/x',
      'http://admin:hunter%zz22@cam.local/x',
    ]) {
      await assert.rejects(checkDriver('http', options(source)), (err: Error) => {
        assert.doesNotMatch(err.message, /hunter|admin/, err.message);
        assert.match(err.message, /\*\*\*@/);
        return true;
      });
    }
  });

  test("a password holding '/', '?' or '#' is refused at start, masked, not sent to the wrong host", async () => {
    // `http://admin:1234/hunter2222@cam/x` parses as host "admin", port 1234, path
    // "/hunter2222@cam/x": taken as written, the relay requested that path from that host and
    // named the source, password and all, in every retry's log line.
    for (const source of [
      'http://admin:1234/hunter2222@cam.local/x',
      'http://admin:1234?hunter2222@cam.local/x',
      'http://admin:1234#hunter2222@cam.local/x',
      'https://admin:1234/hunter2222@cam.local:8443/x?size=vga',
    ]) {
      await assert.rejects(checkDriver('http', options(source)), (err: Error) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.doesNotMatch(err.message, /hunter|admin|1234/, err.message);
        assert.match(
          err.message,
          /^invalid --source "https?:\/\/\*\*\*@cam\.local(:8443)?\/x(\?size=vga)?": an '@' after the host is ambiguous; .*%2F/,
        );
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
    // An '@' that belongs in the path is written %40; escaped, the password may hold anything.
    await assert.rejects(checkDriver('http', options('http://cam.local/a@b')), /%40/);
    await checkDriver('http', options('http://cam.local/a%40b'));
    const escaped = parseSource('http://admin:1234%2Fhunter%2C2222@cam.local/x');
    assert.equal(escaped.authorization, `Basic ${Buffer.from('admin:1234/hunter,2222').toString('base64')}`);
    assert.equal(escaped.display, 'http://***@cam.local/x');
  });

  test('the source URL: Basic credentials decoded, and a display form with every secret masked', () => {
    const s = parseSource('http://admin:p%40ss%3Aword@cam.local:8080/videostream.cgi?user=admin&pwd=hunter22&rate=0#frag');
    assert.equal(s.authorization, `Basic ${Buffer.from('admin:p@ss:word').toString('base64')}`);
    assert.equal(s.url.href, 'http://cam.local:8080/videostream.cgi?user=admin&pwd=hunter22&rate=0');
    assert.equal(s.display, 'http://***@cam.local:8080/videostream.cgi?user=admin&pwd=***&rate=0');
    assert.equal(parseSource('https://cam.local/mjpeg').display, 'https://cam.local/mjpeg');
    assert.equal(parseSource('https://cam.local/mjpeg').authorization, undefined);
  });

  test('the timeout variables are read in seconds and checked', () => {
    assert.deepEqual(settingsFromEnv({}), { connectTimeoutMs: 10_000, stallTimeoutMs: 10_000 });
    assert.deepEqual(settingsFromEnv({ FRAMERING_HTTP_CONNECT_TIMEOUT: '2.5', FRAMERING_HTTP_STALL_TIMEOUT: '30' }), {
      connectTimeoutMs: 2500,
      stallTimeoutMs: 30_000,
    });
    assert.throws(() => settingsFromEnv({ FRAMERING_HTTP_STALL_TIMEOUT: 'soon' }), {
      message: 'invalid FRAMERING_HTTP_STALL_TIMEOUT "soon": expected seconds, a number more than 0 and at most 3600',
    });
    assert.throws(() => settingsFromEnv({ FRAMERING_HTTP_CONNECT_TIMEOUT: '0' }), ConfigError);
  });
});

describe('RateCap (--fps)', () => {
  test('a 30 fps source with jitter capped at 10 fps relays 10 fps', () => {
    const cap = new RateCap(10);
    let admitted = 0;
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = i * (1000 / 30) + ((i * 7919) % 11) - 5; // ±5 ms, deterministic
      if (cap.admit(t)) {
        admitted++;
        times.push(t);
      }
    }
    assert.ok(admitted >= 98 && admitted <= 101, `${admitted} frames in 10 s`);
    for (let k = 10; k < times.length; k++)
      assert.ok(times[k]! - times[k - 10]! >= 900, `10 frames within ${times[k]! - times[k - 10]!} ms`);
  });

  test('a source slower than the cap is relayed whole; a burst after a pause lets one frame through', () => {
    const cap = new RateCap(10);
    for (let i = 0; i < 20; i++) assert.ok(cap.admit(i * 200), `frame ${i} of a 5 fps source`);
    const burst = Array.from({ length: 10 }, () => cap.admit(10_000)).filter(Boolean).length;
    assert.equal(burst, 1);
  });
});
