/** The index page: one <img> per camera, like the original; works with JavaScript off. */

export interface PageCamera {
  name: string;
  streamPath: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderIndexPage(cameras: readonly PageCamera[]): string {
  const views = cameras
    .map(
      (c) => `  <figure>
    <img src="${escapeHtml(c.streamPath)}" alt="live view of camera ${escapeHtml(c.name)}">
    <figcaption>${escapeHtml(c.name)}</figcaption>
  </figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>framering</title>
  <style>
    body { margin: 0; padding: 1rem; font-family: system-ui, sans-serif; background: #111; color: #ddd; }
    h1 { font-size: 1.1rem; font-weight: 600; margin: 0 0 1rem; }
    figure { margin: 0 0 1rem; }
    img { display: block; max-width: 100%; height: auto; background: #222; }
    figcaption { font-size: 0.85rem; color: #999; margin-top: 0.3rem; }
  </style>
</head>
<body>
  <h1>framering</h1>
${views}
</body>
</html>
`;
}
