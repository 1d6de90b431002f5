/**
 * The logger (src/core/log.ts): levels, control characters escaped in every line (an
 * upstream's header carrying `ESC[2J` and a forged line reached the log verbatim), and
 * credentials masked in values quoted by errors.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, escapeControls, logLevelEnabled, maskCredentials } from '../../src/core/log.js';

function capture(level: Parameters<typeof createLogger>[0]): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger(level, (l) => lines.push(l)) };
}

describe('createLogger', () => {
  test('writes the lines at or above its level, and says its level', () => {
    const { lines, log } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.equal(log.level, 'warn');
    assert.deepEqual(
      lines.map((l) => l.replace(/^\S+ /, '')),
      ['warn  w\n', 'error e\n'],
    );
    assert.ok(logLevelEnabled('info', 'warn'));
    assert.ok(!logLevelEnabled('info', 'debug'));
    assert.ok(logLevelEnabled(undefined, 'debug'), 'a logger without a level takes everything');
  });

  test('control characters from outside are escaped: one line per event, no terminal escape', () => {
    const { lines, log } = capture('debug');
    const hostile = 'multipart/x-mixed-replace\x1b[2J\x1b[1;1H\r\n2026-01-01T00:00:00.000Z error FAKE LOG LINE\x07\x00\x7f\x9b2J\ttab';
    log.info(`connected to source http://cam/x (${hostile})`);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.indexOf('\n'), line.length - 1, 'the only newline ends the line');
    assert.equal(escapeControls(line.slice(0, -1)), line.slice(0, -1), 'no control character left to escape');
    assert.ok(
      line.endsWith(
        '(multipart/x-mixed-replace\\x1b[2J\\x1b[1;1H\\x0d\\x0a2026-01-01T00:00:00.000Z error FAKE LOG LINE\\x07\\x00\\x7f\\x9b2J\\x09tab)\n',
      ),
      line,
    );
  });

  test('text without control characters is written as is (UTF-8 beyond C1 included)', () => {
    assert.equal(escapeControls('µStreamer → café 10 fps'), 'µStreamer → café 10 fps');
    assert.equal(escapeControls(''), '');
  });
});

describe('maskCredentials', () => {
  test('masks user info up to the last @ and password-like query values', () => {
    const cases: [string, string][] = [
      ['http://user:pw@cam/x', 'http://***@cam/x'],
      ['http://admin:1234/secret@cam/x', 'http://***@cam/x'],
      ['door=http,source=http://cam:pa,ss@host/x,junk', 'door=http,source=http://***@host/x,junk'],
      ['http://cam/x?pwd=hunter2&size=vga', 'http://cam/x?pwd=***&size=vga'],
      ['rtsp://a:b c@d/e', 'rtsp://***@d/e'],
      ['http://cam.local/video_feed', 'http://cam.local/video_feed'],
      ['./my-driver.js', './my-driver.js'],
    ];
    for (const [value, masked] of cases) assert.equal(maskCredentials(value), masked, value);
  });
});
