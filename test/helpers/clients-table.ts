/**
 * Writes the compatibility tables of docs/clients.md from test-artifacts/clients.jsonl, the
 * results the client suites (test/integration/clients-*.test.ts) append: for every (client,
 * variant, front end, path) the newest result. Rewrites what lies between
 * `<!-- clients:begin -->` and `<!-- clients:end -->`.
 *
 *   node dist/test/helpers/clients-table.js [--results FILE] [--write docs/clients.md]
 *
 * Without --write it prints the tables.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RESULTS_FILE, type ResultLine } from './clients.js';
import { REPO_ROOT } from './paths.js';

const BEGIN = '<!-- clients:begin -->';
const END = '<!-- clients:end -->';
const FRONT_ENDS = ['uws', 'node'];

/** The newest result of each (client, variant, front end, path). */
export function newest(lines: readonly ResultLine[]): ResultLine[] {
  const byKey = new Map<string, ResultLine>();
  for (const l of lines) {
    const key = [l.client, l.variant, l.frontEnd, l.path].join('\u0000');
    const had = byKey.get(key);
    if (!had || had.at <= l.at) byKey.set(key, l);
  }
  return [...byKey.values()];
}

const seconds = (ms: number | null): string => (ms === null ? '' : `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`);

/** Rows in this order (by the start of the client's name); others after them, as they came. */
const ORDER = [
  'ffmpeg',
  'ffprobe',
  'ffmpeg -c copy',
  'GStreamer',
  'VLC',
  'mpv',
  'OpenCV',
  'Home Assistant still',
  'Home Assistant stream',
  'python-requests',
  'urllib',
  'curl',
  'wget',
  'Chromium',
  'Firefox',
];
const rank = (client: string): number => {
  // The longest matching prefix wins ('ffmpeg -c copy' over 'ffmpeg').
  let best = ORDER.length;
  let bestLength = -1;
  ORDER.forEach((prefix, i) => {
    if (client.startsWith(prefix) && prefix.length > bestLength) {
      best = i;
      bestLength = prefix.length;
    }
  });
  return best;
};

/** Markdown table text: no raw HTML (a client named "(<img>)"), no column breaks. */
const text = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');

/** One cell: pass or fail, rate and first frame; the note when it failed. */
function cell(r: ResultLine | undefined): string {
  if (!r) return '–';
  const facts = [r.fps === null ? '' : `${r.fps} fps`, r.firstFrameMs === null ? '' : `first ${seconds(r.firstFrameMs)}`].filter(Boolean);
  const head = `${r.pass ? '✅' : '❌'} ${facts.join(', ')}`.trim();
  const note = r.note && (!r.pass || /^reports|recorded/.test(r.note)) ? ` (${text(r.note.slice(0, 120))})` : '';
  return head + note;
}

const esc = (s: string): string => (s ? `\`${s.replace(/\|/g, '\\|')}\`` : 'defaults');

/** The two tables as Markdown. */
export function renderTables(lines: readonly ResultLine[]): string {
  const results = newest(lines);
  const find = (client: string, variant: string, frontEnd: string, path: string) =>
    results.find((r) => r.client === client && r.variant === variant && r.frontEnd === frontEnd && r.path === path);
  const order = (rs: ResultLine[]): [string, string, string][] => {
    const seen = new Map<string, [string, string, string]>();
    for (const r of rs) {
      const key = `${r.client}\u0000${r.variant}`;
      if (!seen.has(key)) seen.set(key, [r.client, r.variant, r.flags]);
    }
    return [...seen.values()].sort((a, b) => rank(a[0]) - rank(b[0]) || (a[1] === b[1] ? 0 : a[1] === 'recommended' ? -1 : 1));
  };
  const byTime = [...results].sort((a, b) => (a.at < b.at ? -1 : 1));
  const direct = order(byTime.filter((r) => r.path === 'direct'));
  const proxies = [...new Set(byTime.filter((r) => r.path !== 'direct').map((r) => r.path))];
  const out: string[] = [];
  const dates = results.map((r) => r.at).sort();
  out.push(`Results of ${results.length} runs, ${dates[0]?.slice(0, 16)} to ${dates.at(-1)?.slice(0, 16)} UTC.`, '');
  out.push('### Direct', '');
  out.push('| client | flags | uws | node |', '| --- | --- | --- | --- |');
  for (const [client, variant, flags] of direct) {
    const name = variant === 'default' ? `${client}, default flags (informational)` : client;
    out.push(`| ${text(name)} | ${esc(flags)} | ${FRONT_ENDS.map((fe) => cell(find(client, variant, fe, 'direct'))).join(' | ')} |`);
  }
  if (proxies.length) {
    const viaProxy = order(byTime.filter((r) => r.path !== 'direct'));
    out.push('', '### Through the shipped proxy configurations', '');
    const cols = proxies.flatMap((p) => FRONT_ENDS.map((fe) => `${p} (${fe})`));
    out.push(`| client | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---').join(' | ')} |`);
    for (const [client, variant] of viaProxy) {
      const cells = proxies.flatMap((p) =>
        FRONT_ENDS.map((fe) => {
          const r = find(client, variant, fe, p);
          if (!r) return '–';
          return r.pass ? `✅ ${r.fps ?? ''} fps` : `❌ ${text(r.note.slice(0, 80))}`;
        }),
      );
      out.push(`| ${text(client)} | ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n');
}

/** `doc` with the text between the markers replaced by `tables`. */
export function replaceTables(doc: string, tables: string): string {
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b < 0 || e < b) throw new Error(`the document has no ${BEGIN} ... ${END} section`);
  return `${doc.slice(0, b + BEGIN.length)}\n${tables}\n${doc.slice(e)}`;
}

function main(argv: string[]): void {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const file = arg('--results') ?? RESULTS_FILE;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ResultLine);
  const tables = renderTables(lines);
  const target = arg('--write');
  if (!target) {
    process.stdout.write(`${tables}\n`);
    return;
  }
  const path = target.startsWith('/') ? target : fileURLToPath(new URL(target, REPO_ROOT));
  writeFileSync(path, replaceTables(readFileSync(path, 'utf8'), tables));
  process.stdout.write(`wrote the client tables into ${path}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
