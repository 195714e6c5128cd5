import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml } from '../../../server/render/html.js';
import { clearMarkdownCache, markdownStats, MD_DELIMITER_BUDGET, MD_MAX_CHARS, MD_MAX_LINKS, MD_MAX_TABLE_ROWS, renderMarkdown } from '../../../server/render/markdown.js';
import { fakeRunner } from '../../helpers/fake-runner.js';
import { startGateway } from '../../helpers/gateway.js';
import { waitFor } from '../../helpers/processes.js';
import { addUsers, pageUser } from '../../helpers/users.js';

const KIB64 = 64 * 1024;
/** The worst input found: emphasis delimiters that all could open and close. */
const hostile = (k: number) => `${'*a'.repeat(KIB64 / 2 - 8)}${String(k).padStart(16, '-')}`;
const snapshot = () => ({ ...markdownStats });
const delta = (a: typeof markdownStats, b: typeof markdownStats) =>
  Object.fromEntries(Object.keys(a).map((k) => [k, b[k as keyof typeof b] - a[k as keyof typeof a]])) as typeof markdownStats;

function cpuMs(fn: () => void): number {
  const c = process.cpuUsage();
  fn();
  const u = process.cpuUsage(c);
  return (u.user + u.system) / 1000;
}

test('a page of 32 Claude texts of 64 KiB `*a*a…`: the markdown parser gets bounded work, the rest is shown as text, a reload renders nothing again', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'victor', role: 'viewer' }]);
  const viewer = await pageUser(g, 'victor');
  const { run, token } = await g.gw.runs.create('hostile markdown', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
  t.after(() => r.close());
  for (let k = 0; k < 32; k++) await r.events({ type: 'claude_text', text: hostile(k), truncated: false, messageId: null, parentToolUseId: null, error: null });
  await waitFor(() => (g.gw.runs.get(run.id)?.lastSeq ?? 0) >= 32 || undefined, 10_000, 'events stored');

  clearMarkdownCache();
  const s0 = snapshot();
  const first = await viewer.get(`/runs/${run.id}`);
  assert.equal(first.status, 200);
  const d1 = delta(s0, snapshot());
  const shown = (first.body.match(/class="tl tl-text/g) ?? []).length;
  assert.ok(shown >= 24, `most of the 32 texts are on the page (${shown})`);
  assert.ok(d1.renders >= shown, JSON.stringify(d1));
  // Before: each text went to the inline parser whole (64 KiB, 32,760 delimiters), 1.5 s each.
  assert.ok(d1.inlineChars <= d1.renders * MD_MAX_CHARS, `chars handed to the inline parser: ${d1.inlineChars}`);
  assert.ok(d1.inlineDelimiters <= d1.renders * MD_DELIMITER_BUDGET, `delimiters handed to it: ${d1.inlineDelimiters}`);
  assert.ok(d1.plainParagraphs >= shown, 'each such paragraph is shown as its text');
  // Nothing is lost: the markdown head and the rest as plain text, behind "show the rest".
  assert.match(first.body, /show the rest \([\d,]+ more characters, as plain text\)/);
  assert.ok(first.body.includes(escapeHtml(hostile(31).slice(-40))), 'the end of the last text is on the page');

  // The next load (or the next viewer) renders nothing again.
  const s1 = snapshot();
  assert.equal((await viewer.get(`/runs/${run.id}`)).status, 200);
  const d2 = delta(s1, snapshot());
  assert.ok(d2.cacheHits >= shown, JSON.stringify(d2));
  assert.equal(d2.inlineChars, 0);
  assert.equal(d2.plainParagraphs, 0);
});

test('the worst markdown costs within a generous factor of plain text of the same size; ordinary markdown still renders', (t) => {
  renderMarkdown('warm *up* [x](https://example.com)');
  const plain = (k: number) => `${'hello world. '.repeat(KIB64 / 13)}${k}`;
  const fill = (unit: string, n: number) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  const worst = [
    hostile,
    (k: number) => `${'<a'.repeat(KIB64 / 2 - 8)}${k}`,
    (k: number) => Array.from({ length: 1000 }, () => '*a'.repeat(30)).join('\n\n') + k,
    (k: number) => `${'> '.repeat(30_000)}${k}`,
    // A table of 8 KiB of one-cell rows (markdown-it's table rule: 30-90 ms a text before).
    (k: number) => `a|b\n-|-\n${fill('x|\n', 8180)}${k}`,
    (k: number) => `|a|b|\n|-|-|\n${fill('|x|y|\n', 8180)}${k}`,
    // Linkify: 8 KiB of scheme starts, of e-mail addresses (4-150 ms a text before).
    (k: number) => `${fill('http://', 8192)}${k}`,
    (k: number) => `${fill('a@b.co ', 8192)}${k}`,
    (k: number) => `${fill('@', 8192)}${k}`,
  ];
  clearMarkdownCache();
  const reference = cpuMs(() => {
    for (let k = 0; k < 32; k++) renderMarkdown(plain(k));
  });
  for (const [i, gen] of worst.entries()) {
    clearMarkdownCache();
    const spent = cpuMs(() => {
      for (let k = 0; k < 32; k++) renderMarkdown(gen(k));
    });
    // Before: 32 × `*a…` took ~3.9 s of CPU against ~30 ms for plain text (130×).
    t.diagnostic(`input ${i}: ${spent.toFixed(0)} ms of CPU for 32 texts; plain text: ${reference.toFixed(0)} ms`);
    assert.ok(spent <= 25 * reference + 150, `input ${i}: ${spent.toFixed(0)} ms against ${reference.toFixed(0)} ms for plain text`);
  }
  assert.equal(String(renderMarkdown('**bold** and `code` and [a link](https://example.com)')).trim(), '<p><strong>bold</strong> and <code>code</code> and <a href="https://example.com" rel="noopener noreferrer nofollow" target="_blank">a link</a></p>');
  const dense = renderMarkdown(`${'*a'.repeat(100)}\nnext <b>line</b>`);
  assert.match(dense, /^<p>\*a\*a/, 'a paragraph too dense to parse is its text');
  assert.match(dense, /<br>\s*next &lt;b&gt;line&lt;\/b&gt;/, 'line breaks kept, still escaped');
  // Tables and links still work in ordinary texts; past the caps the text is shown as it is.
  assert.match(renderMarkdown('| a | b |\n|---|---|\n| 1 | 2 |'), /<table>[\s\S]*<td>1<\/td>/);
  assert.match(renderMarkdown('see https://example.com/x'), /<a href="https:\/\/example.com\/x"/);
  const s0 = { ...markdownStats };
  const table = renderMarkdown(`a|b\n-|-\n${'x|<i>\n'.repeat(MD_MAX_TABLE_ROWS)}`);
  assert.equal(markdownStats.plainTexts - s0.plainTexts, 1, 'a text with too many table rows is shown as text');
  assert.doesNotMatch(table, /<table|<i>/);
  assert.match(table, /x\|&lt;i&gt;<br>/);
  const links = renderMarkdown(Array.from({ length: MD_MAX_LINKS + 1 }, (_, i) => `https://e.com/${i}`).join(' '));
  assert.doesNotMatch(links, /<a /, 'a paragraph with too many link candidates is not linkified');
  assert.match(links, /https:\/\/e.com\/32/);
});
