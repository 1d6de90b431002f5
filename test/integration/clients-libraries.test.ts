/**
 * HTTP libraries and command-line tools against framering on both front ends: Home Assistant's
 * code paths (a still image of /snapshot with httpx and with aiohttp; the stream read with
 * aiohttp's read(102400), as its MJPEG camera proxies it, and with httpx's aiter_bytes), Python
 * requests' iter_content(chunk_size=None), urllib's read1(), curl and wget. The response body
 * each hands over is cut into parts here and every JPEG decoded: whole frames at 30 fps, the
 * first within 3 s. Results go to test-artifacts/clients.jsonl for docs/clients.md.
 */

import { after, before, describe, test } from 'node:test';
import { clientMissing, curl, startClientServer, type ClientServer, python, report, runClient, wget } from '../helpers/clients.js';
import { FRONT_ENDS } from '../helpers/http.js';

const started = Date.now();
after(() => console.log(`clients-libraries: ${((Date.now() - started) / 1000).toFixed(1)} s`));

for (const frontEnd of FRONT_ENDS) {
  describe(`libraries and tools on ${frontEnd}`, () => {
    let cs: ClientServer | undefined;
    let base = '';
    before(async () => {
      cs = await startClientServer(frontEnd);
      base = `http://127.0.0.1:${cs.server.port}`;
    });
    after(async () => {
      await cs?.close();
    });
    const at = (client: string, flags: string) => ({ client, variant: 'recommended' as const, frontEnd, path: 'direct', flags });

    test('Home Assistant still image: httpx GET /snapshot', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('httpx-still', `${base}/snapshot`), { firstFrameTimeoutMs: 6000 });
      report(at('Home Assistant still (httpx)', 'httpx.get(still_url)'), run, {
        still: true,
        firstFrameMs: 6000,
        extra: stills(run.observations.length),
      });
    });

    test('Home Assistant still image: aiohttp GET /snapshot', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('aiohttp-still', `${base}/snapshot`), { firstFrameTimeoutMs: 6000 });
      report(at('Home Assistant still (aiohttp)', 'session.get(still_url).read()'), run, {
        still: true,
        firstFrameMs: 6000,
        extra: stills(run.observations.length),
      });
    });

    test('Home Assistant MJPEG stream: aiohttp content.read(102400)', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('aiohttp-stream', `${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      report(at('Home Assistant stream (aiohttp)', 'content.read(102400)'), run);
    });

    test('Home Assistant MJPEG stream, digest path: httpx aiter_bytes(102400)', {
      skip: clientMissing.python,
      timeout: 30_000,
    }, async (t) => {
      const run = await runClient(t, python('httpx-stream', `${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      report(at('Home Assistant stream (httpx)', 'aiter_bytes(102400)'), run);
    });

    test('python-requests iter_content(chunk_size=None)', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('requests', `${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      report(at('python-requests', 'iter_content(chunk_size=None)'), run);
    });

    test('urllib read1()', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('urllib', `${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      report(at('urllib', 'urlopen(url).read1()'), run);
    });

    test('curl --no-buffer', { skip: clientMissing.curl, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, curl(`${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      report(at('curl', '--no-buffer'), run);
    });

    test('wget -O - announces no length', { skip: clientMissing.wget, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, wget(`${base}/video_feed`), { firstFrameTimeoutMs: 3000 });
      // An endless stream has no length: wget says "Length: unspecified", not a made-up size.
      const length = /Length: (\S+)/.exec(run.output)?.[1];
      report(at('wget', '-O -'), run, {
        extra: length === 'unspecified' ? [] : [`wget announces Length: ${length ?? '(no Length line)'}`],
      });
    });
  });
}

/** Every still the Python shim asked for arrived. */
function stills(n: number): string[] {
  return n === 10 ? [] : [`${n} of 10 still images`];
}
