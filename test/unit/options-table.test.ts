/** The README's options table is the one generated from the option table (no drift). */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BEGIN_MARKER, END_MARKER, renderOptionsTable, withOptionsTable } from '../../src/app/options-table.js';
import { OPTIONS } from '../../src/app/options.js';

const README = new URL('../../../README.md', import.meta.url);

test("the README's options table is generated from src/app/options.ts (npm run docs:options)", () => {
  const text = readFileSync(README, 'utf8');
  assert.ok(text.includes(BEGIN_MARKER) && text.includes(END_MARKER), 'README has the options markers');
  assert.equal(withOptionsTable(text), text, 'README.md is out of date: run npm run docs:options');
});

test('every option has a row, its environment variable and its value name', () => {
  const table = renderOptionsTable();
  for (const [name, spec] of Object.entries(OPTIONS)) {
    assert.ok(table.includes(`\`--${name} ${spec.valueName}\``), `--${name} is missing from the table`);
    assert.ok(table.includes(`\`${spec.env}\``), `${spec.env} is missing from the table`);
  }
  // Rows merged with sameRowAs: --width/--height, --tls-cert/--tls-key, --nats-cert/--nats-key.
  const merged = Object.values(OPTIONS).filter((o) => 'sameRowAs' in o.doc).length;
  assert.equal(merged, 3);
  assert.equal(table.trimEnd().split('\n').length, 2 + Object.keys(OPTIONS).length - merged);
});

test('a stale table is replaced and the text around it kept', () => {
  const stale = `intro\n${BEGIN_MARKER}\n| old |\n${END_MARKER}\noutro\n`;
  assert.equal(withOptionsTable(stale), `intro\n${BEGIN_MARKER}\n${renderOptionsTable()}${END_MARKER}\noutro\n`);
  assert.throws(() => withOptionsTable('no markers here'), /options:begin/);
});
