/**
 * The index page: one live <img> per camera, like the original, plus a status line and buttons.
 *
 * Without JavaScript it is still the classic page: the images stream and the snapshot links
 * download. With JavaScript, a small inline script (no framework, nothing external) polls
 * /status?clients=none (the cameras and totals, never the viewer list: a page polls every 1.5 s,
 * and the list grows with the viewers), fills each camera's panel with textContent only, wires
 * the full-screen buttons, and re-attaches a stream that failed or was cut by a server restart.
 */

export interface PageCamera {
  name: string;
  streamPath: string;
  /** Defaults to streamPath with its final "video_feed" replaced by "snapshot". */
  snapshotPath?: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
:root { color-scheme: dark; --bg: #0e1014; --panel: #171a21; --line: #272c37; --text: #e4e7ee; --muted: #8a92a5;
  --ok: #3ecf8e; --warn: #f5a524; --bad: #f05d5d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: baseline; gap: 1rem; padding: .8rem 1.25rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.05rem; font-weight: 650; letter-spacing: .02em; margin: 0; }
header a { color: var(--muted); font-size: .85rem; }
#conn { margin-left: auto; color: var(--bad); font-size: .85rem; }
main { display: grid; gap: 1rem; padding: 1rem; max-width: 120rem; margin: 0 auto;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 26rem), 1fr)); }
.cam { margin: 0; display: flex; flex-direction: column; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; overflow: hidden; container-type: inline-size; }
/* One camera: as large as fits the window (assuming 4:3 until the image says otherwise). */
.cam:only-child { width: 100%; max-width: min(64rem, (100vh - 8rem) * 4 / 3); justify-self: center; }
.view { position: relative; background: #000; }
.view img { display: block; width: 100%; height: 100%; max-height: calc(100vh - 8rem); aspect-ratio: auto 4 / 3; object-fit: contain; }
.cam[data-stalled] .view::after { content: "reconnecting\\2026"; position: absolute; inset: 0; display: grid; place-items: center;
  background: rgb(0 0 0 / .55); color: var(--muted); }
figcaption { display: flex; flex-wrap: wrap; align-items: center; align-content: start; gap: .5rem 1rem; padding: .6rem .8rem; }
.name { font-weight: 600; }
.state { display: inline-flex; align-items: center; gap: .35rem; color: var(--muted); }
.state::before { content: ""; width: .55rem; height: .55rem; border-radius: 50%; background: var(--muted); }
.state[data-state="running"]::before { background: var(--ok); }
.state[data-state="starting"]::before, .state[data-state="stopping"]::before { background: var(--warn); }
.state[data-state="error"]::before, .state[data-state="offline"]::before { background: var(--bad); }
.stats { order: 1; flex-basis: 100%; display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin: 0; color: var(--muted);
  font-variant-numeric: tabular-nums; }
@container (min-width: 40rem) { .stats { order: 0; flex-basis: auto; } }
.stats div { display: flex; gap: .3rem; }
.stats dd { margin: 0; color: var(--text); }
.actions { display: flex; gap: .5rem; margin-left: auto; }
.btn { font: inherit; font-size: .85rem; color: var(--text); background: #222733; border: 1px solid #333a48;
  border-radius: 6px; padding: .3rem .7rem; text-decoration: none; cursor: pointer; }
.btn:hover { background: #2b3140; }
.btn:focus-visible { outline: 2px solid #5b8def; outline-offset: 1px; }
.error { order: 2; flex-basis: 100%; margin: 0; color: var(--bad); font-size: .85rem; overflow-wrap: anywhere; }
.error[data-current="false"] { color: var(--muted); }
.cam:fullscreen { border: 0; border-radius: 0; background: #000; }
.cam:fullscreen .view { flex: 1; min-height: 0; }
.cam:fullscreen .view img { max-height: none; aspect-ratio: auto; }
html:not(.js) .js-only, [hidden], body[data-status="off"] .stats, body[data-status="off"] .state { display: none !important; }
`;

// Runs after the figures exist. It reads cameras from the DOM (data-*), so no server data is
// ever interpolated into script text, and writes only textContent and attributes.
const SCRIPT = `
'use strict';
const POLL_MS = 1500, RETRY_MS = 2000;
const cams = new Map();
let streamGeneration = 0;
function attach(cam, delay) {
  clearTimeout(cam.retry);
  cam.live = false;
  cam.fig.dataset.stalled = '';
  cam.retry = setTimeout(() => {
    cam.retry = 0;
    // A signed link is new each time (its nonce); otherwise a fresh query makes the browser open
    // a new request rather than reuse the ended image.
    if (cam.link) relink(cam).catch(() => attach(cam, RETRY_MS));
    else cam.img.src = cam.stream + '?r=' + (++streamGeneration);
  }, delay);
}
// Where the server has a URL secret: the image streams from a short-lived signed link, which
// this renews well before it expires (the server ends a stream when its link expires), so the
// page keeps streaming without asking for credentials again.
async function relink(cam) {
  const res = await fetch(cam.link, { cache: 'no-store', signal: AbortSignal.timeout(RETRY_MS * 3) });
  if (!res.ok) throw new Error('HTTP ' + res.status);
  const link = await res.json();
  cam.img.src = link.stream;
  cam.snapshot.href = link.snapshot;
  clearTimeout(cam.renew);
  const left = Date.parse(link.expiresAt) - Date.now();
  cam.renew = setTimeout(() => relink(cam).catch(() => attach(cam, RETRY_MS)), Math.max(RETRY_MS, left * 0.8));
}
for (const fig of document.querySelectorAll('figure.cam')) {
  const field = (name) => fig.querySelector('[data-field="' + name + '"]');
  const img = fig.querySelector('img');
  // live: it has shown a frame since it was last (re)attached.
  const cam = { fig, img, stream: fig.dataset.stream, link: fig.dataset.link, renew: 0, snapshot: fig.querySelector('[data-action="snapshot"]'),
    retry: 0, live: img.complete && img.naturalWidth > 0,
    state: field('state'), fps: field('fps'), viewers: field('viewers'), resolution: field('resolution'), error: field('error') };
  cams.set(fig.dataset.camera, cam);
  if (cam.link) relink(cam).catch(() => attach(cam, RETRY_MS));
  // The stream failed, or the server went away: try again shortly (and again, while it fails).
  img.addEventListener('error', () => attach(cam, RETRY_MS));
  // Chromium fires this once, at the first frame of a stream.
  img.addEventListener('load', () => { cam.live = true; delete fig.dataset.stalled; });
  fig.querySelector('[data-action="fullscreen"]').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else fig.requestFullscreen().catch(() => {});
  });
  fig.querySelector('[data-action="snapshot"]').addEventListener('click', (e) => {
    e.currentTarget.download = fig.dataset.camera + '-' + new Date().toISOString().replace(/[:.]/g, '-') + '.jpg';
  });
}
document.addEventListener('fullscreenchange', () => {
  for (const cam of cams.values()) {
    cam.fig.querySelector('[data-action="fullscreen"]').textContent = document.fullscreenElement === cam.fig ? 'Exit full screen' : 'Full screen';
  }
});
function setState(cam, state) {
  cam.state.textContent = state;
  cam.state.dataset.state = state;
}
// Each server's last uptime, by its name: behind a load balancer the polls are answered by
// several servers, and a younger one answering is no restart.
const uptimes = new Map();
async function poll() {
  try {
    const res = await fetch('/status?clients=none', { cache: 'no-store', signal: AbortSignal.timeout(POLL_MS * 2) });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const status = await res.json();
    document.getElementById('conn').hidden = true;
    // A server that restarted ended every stream; a browser may not report that as an error.
    const server = status.server || '';
    if (status.uptimeSeconds < (uptimes.get(server) ?? 0)) for (const cam of cams.values()) attach(cam, 0);
    uptimes.set(server, status.uptimeSeconds);
    for (const c of status.cameras) {
      const cam = cams.get(c.name);
      if (!cam) continue;
      setState(cam, c.state);
      cam.fps.textContent = String(Math.round(c.fps * 10) / 10);
      cam.viewers.textContent = String(c.viewers);
      cam.resolution.textContent = c.resolution ? c.resolution.width + '\\u00d7' + c.resolution.height : '\\u2013';
      cam.error.hidden = !c.lastError;
      if (c.lastError) {
        cam.error.textContent = 'last error (' + new Date(c.lastError.at).toLocaleTimeString() + '): ' + c.lastError.message;
        cam.error.dataset.current = String(c.state === 'error');
      }
    }
  } catch (err) {
    const conn = document.getElementById('conn');
    conn.textContent = 'server unreachable, retrying\\u2026';
    conn.hidden = false;
    for (const cam of cams.values()) setState(cam, 'offline');
  }
  // Chromium fires no event when a stream that showed frames is cut (as by a server restart):
  // the image just turns broken, which is what this looks for (once it has shown a frame: a
  // camera may take seconds to deliver the first).
  for (const cam of cams.values()) if (cam.live && cam.img.complete && cam.img.naturalWidth === 0) attach(cam, 0);
  setTimeout(poll, POLL_MS);
}
// A user who may not read /status (role viewer) gets a page without it: streams only.
if (document.body.dataset.status === 'on') poll();
else setInterval(() => { for (const cam of cams.values()) if (cam.live && cam.img.complete && cam.img.naturalWidth === 0) attach(cam, 0); }, POLL_MS);
`;

/**
 * The index page for `cameras`, first one first; everything it needs is inline. Without
 * `status` (a user who may not read /status), the page neither links nor polls it, and shows
 * the streams without their figures. With `links` (the server has a URL secret), each image
 * streams from a short-lived signed link the page fetches from /cameras/NAME/link and renews;
 * without JavaScript it streams from its plain path with the browser's credentials.
 */
export function renderIndexPage(
  cameras: readonly PageCamera[],
  { status = true, links = false }: { status?: boolean; links?: boolean } = {},
): string {
  const views = cameras
    .map((c) => {
      const name = escapeHtml(c.name);
      const stream = escapeHtml(c.streamPath);
      const snapshot = escapeHtml(c.snapshotPath ?? c.streamPath.replace(/video_feed$/, 'snapshot'));
      const link = links ? ` data-link="/cameras/${escapeHtml(encodeURIComponent(c.name))}/link"` : '';
      return `<figure class="cam" data-camera="${name}" data-stream="${stream}"${link}>
  <div class="view"><img src="${stream}" alt="live view of camera ${name}"></div>
  <figcaption>
    <span class="name">${name}</span>
    <span class="state js-only" data-field="state" data-state="">&hellip;</span>
    <dl class="stats js-only">
      <div><dt>fps</dt><dd data-field="fps">&ndash;</dd></div>
      <div><dt>viewers</dt><dd data-field="viewers">&ndash;</dd></div>
      <div><dt>size</dt><dd data-field="resolution">&ndash;</dd></div>
    </dl>
    <span class="actions">
      <a class="btn" data-action="snapshot" href="${snapshot}" download="${name}-snapshot.jpg">Snapshot</a>
      <button class="btn js-only" type="button" data-action="fullscreen">Full screen</button>
    </span>
    <p class="error" data-field="error" hidden></p>
  </figcaption>
</figure>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>framering</title>
<link rel="icon" href="data:,">
<script>document.documentElement.classList.add('js');</script>
<style>${STYLE}</style>
</head>
<body data-status="${status ? 'on' : 'off'}">
<header>
  <h1>framering</h1>
  ${status ? '<a href="/status">status</a>' : ''}
  <span id="conn" role="status" hidden></span>
</header>
<main>
${views}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
