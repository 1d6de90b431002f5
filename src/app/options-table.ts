/**
 * The README's options table, generated from the option table (options.ts) so the two cannot
 * drift: `npm run docs:options` rewrites the lines between `<!-- options:begin -->` and
 * `<!-- options:end -->`; a unit test fails when the README's table differs from this output.
 *
 *   node dist/src/app/options-table.js               prints the table
 *   node dist/src/app/options-table.js --write FILE  replaces the table in FILE
 *   node dist/src/app/options-table.js --check FILE  exits 1 if FILE's table is not this one
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type OptionName, OPTIONS } from './options.js';

export const BEGIN_MARKER = '<!-- options:begin -->';
export const END_MARKER = '<!-- options:end -->';

/** The Markdown table, one row per option (options with `sameRowAs` share their row). */
export function renderOptionsTable(): string {
  const rows = new Map<string, { flags: string[]; envs: string[]; default: string; meaning: string }>();
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    const flag = `\`--${name} ${spec.valueName}\``;
    const env = `\`${spec.env}\``;
    const row = spec.doc.sameRowAs === undefined ? undefined : rows.get(spec.doc.sameRowAs);
    if (row) {
      row.flags.push(flag);
      row.envs.push(env);
    } else {
      rows.set(name, { flags: [flag], envs: [env], default: spec.doc.default, meaning: spec.doc.meaning });
    }
  }
  const lines = ['| option | environment | default | meaning |', '| --- | --- | --- | --- |'];
  for (const r of rows.values()) {
    const cells = [r.flags.join(', '), r.envs.join(', '), r.default, r.meaning];
    lines.push(`|${cells.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`);
  }
  return `${lines.join('\n')}\n`;
}

/** `text` with the part between the markers replaced by the generated table. */
export function withOptionsTable(text: string): string {
  const begin = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`no ${BEGIN_MARKER} ... ${END_MARKER} section`);
  return `${text.slice(0, begin + BEGIN_MARKER.length)}\n${renderOptionsTable()}${text.slice(end)}`;
}

function main(argv: readonly string[]): number {
  const [mode, file] = argv;
  if (mode === undefined) {
    process.stdout.write(renderOptionsTable());
    return 0;
  }
  if ((mode !== '--write' && mode !== '--check') || file === undefined) {
    process.stderr.write('usage: options-table.js [--write FILE | --check FILE]\n');
    return 2;
  }
  const text = readFileSync(file, 'utf8');
  const generated = withOptionsTable(text);
  if (mode === '--write') {
    if (generated !== text) writeFileSync(file, generated);
    return 0;
  }
  if (generated === text) return 0;
  process.stderr.write(`${file}: the options table differs from the option table in src/app/options.ts; run npm run docs:options\n`);
  return 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
