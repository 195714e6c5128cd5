import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTimeline, type TimelineEntry } from '../../../protocol/timeline.js';
import { escapeHtml, html as markup } from '../../../server/render/html.js';
import { renderEntryHtml, renderMarkdown, renderTimelineHtml } from '../../../server/render/timeline-html.js';
import { fixtureItems, fixtureNames } from '../../helpers/fixtures.js';

const ALLOWED_TAGS = new Set([
  'article', 'time', 'p', 'div', 'pre', 'code', 'details', 'summary', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 'ul', 'ol', 'li',
  'a', 'dl', 'dt', 'dd', 'br', 'hr', 'blockquote', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 's', 'span', 'button', 'form', 'input',
]);
const ALLOWED_ATTRS = new Set(['id', 'class', 'href', 'rel', 'target', 'datetime', 'data-approval-id', 'start', 'style-free']);

/** Every tag and attribute in the HTML is from the allowlist; no event handler, no script, no style. */
function assertSafeHtml(html: string, where: string): void {
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const tag = m[1]!.toLowerCase();
    assert.ok(ALLOWED_TAGS.has(tag), `${where}: unexpected <${tag}>`);
    for (const a of m[2]!.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=/g)) assert.ok(ALLOWED_ATTRS.has(a[1]!.toLowerCase()), `${where}: unexpected attribute ${a[1]} on <${tag}>`);
  }
  for (const m of html.matchAll(/href="([^"]*)"/g)) assert.match(m[1]!, /^(https?:\/\/|mailto:)/, `${where}: unsafe href ${m[1]}`);
  assert.doesNotMatch(html, /<script|<img|<iframe|<style|javascript:[^<]*"/i, where);
  assert.doesNotMatch(html, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/, `${where}: control characters`);
}

test('every captured session renders to HTML made only of allowlisted tags, attributes and safe links', () => {
  for (const name of fixtureNames()) assertSafeHtml(renderTimelineHtml(buildTimeline(fixtureItems(name)), { now: 1_795_000_000_000 }), name);
});

test('hostile model text: no script, no handler, no javascript: or data: link, no image load, no terminal escapes — but the words stay readable', () => {
  const html = renderTimelineHtml(buildTimeline(fixtureItems('hostile-text')));
  assertSafeHtml(html, 'hostile-text');
  assert.ok(html.includes('&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;'), 'the script tag is shown as text');
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(html.includes('<a href="https://example.com/docs" rel="noopener noreferrer nofollow" target="_blank">ok</a>'), html);
  assert.ok(html.includes('[click me](javascript:alert(document.cookie))'), 'an unsafe link stays as plain text');
  assert.ok(!html.includes('href="data:'));
  assert.ok(html.includes('red') && html.includes('evil-rtl') && !html.includes('pwned-title'), 'escape sequences removed, text kept');
  assert.ok(html.includes('<h1>Report</h1>'), 'markdown is rendered');
  assert.ok(html.includes('&lt;b&gt;not bold&lt;/b&gt;'), 'fenced code is escaped');
});

test('a hostile tool result is escaped, its clipboard escape removed, and cut with "more"', () => {
  const entries = buildTimeline(fixtureItems('hostile-tool-result'));
  const tool = entries.find((e) => e.kind === 'tool')!;
  const html = renderEntryHtml(tool);
  assertSafeHtml(html, 'tool');
  assert.ok(html.includes('&lt;script&gt;alert(2)&lt;/script&gt;'));
  assert.ok(!html.includes('52;c;'), 'the OSC 52 clipboard write is gone');
  assert.match(html, /<details class="tl-more"><summary>more \(\d+ lines\)<\/summary>/);
});

test('a tool call with its approval and result is one entry; long inputs start collapsed', () => {
  const entries = buildTimeline(fixtureItems('tool-approved'));
  const tools = entries.filter((e): e is Extract<TimelineEntry, { kind: 'tool' }> => e.kind === 'tool');
  assert.equal(tools.length, 1);
  const t = tools[0]!;
  assert.equal(t.approval?.resolved?.decision, 'allow');
  assert.equal(t.result?.content, '(Bash completed with no output)');
  const html = renderEntryHtml(t);
  assert.ok(html.includes('Allowed by alice'));
  assert.ok(html.includes('<code>touch created.txt</code>'));
  assert.ok(!html.includes('<details class="tl-input">'), 'a short input is shown inline');
  const long = renderEntryHtml({ ...t, input: { file_path: '/w/a.txt', content: 'line\n'.repeat(40) } });
  assert.match(long, /<details class="tl-input"><summary>input \(43 lines\)<\/summary><pre>file_path: \/w\/a.txt\ncontent:\nline\nline\n/);
});

test('a pending approval shows the tool, the rule "always" would add, the deadline, and the page-supplied buttons', () => {
  const items = fixtureItems('tool-approved').filter((i) => i.event.type !== 'approval_resolved' && i.event.type !== 'claude_tool_result');
  const t = buildTimeline(items).find((e) => e.kind === 'tool')!;
  const html = renderEntryHtml(t, { now: 1_795_000_000_000, approvalActions: (a) => markup`<form class="approve"><button data-approval-id="${escapeHtml(a.info.approvalId)}">Approve</button></form>` });
  assert.ok(html.includes('Approval needed'));
  assert.ok(html.includes('<code>Bash(touch created.txt)</code> for this run'));
  assert.ok(html.includes('denied automatically in 10 min'));
  assert.ok(html.includes('<button data-approval-id="approval-00000001">Approve</button>'));
  assertSafeHtml(html, 'pending');
});

test('the final result shows cost, tokens, turns, duration and denials', () => {
  const entries = buildTimeline(fixtureItems('tool-denied'));
  const r = entries.find((e) => e.kind === 'result')!;
  const html = renderEntryHtml(r);
  // Claude Code reports the session's total so far: labelled so, with this turn's share beside it.
  for (const k of ['this turn', 'session total', 'tokens', 'turns', 'duration', 'denials']) assert.ok(html.includes(`<dt>${k}</dt>`), k);
  assert.match(html, /<dt>session total<\/dt><dd>\$0\.\d+<\/dd>/);
  assert.match(html, /<dt>this turn<\/dt><dd>\$0\.\d+<\/dd>/);
  assert.match(html, /<dt>turns<\/dt><dd>2<\/dd>/);
  assert.match(html, /<dt>denials<\/dt><dd>1<\/dd>/);
  assert.ok(html.includes('<ul class="tl-denials"><li>Bash: <code>rm -rf build</code></li></ul>'));
  const denied = entries.find((e) => e.kind === 'tool')!;
  assert.ok(renderEntryHtml(denied).includes('Denied by alice: Denied by the operator: not now'));
});

test('errors, interrupts and unknown events render visibly; entries have stable ids', () => {
  const api = renderTimelineHtml(buildTimeline(fixtureItems('api-error')));
  assert.ok(api.includes('API error: invalid_request (400)'));
  assert.ok(api.includes('Ended with an error'));
  const raw = renderEntryHtml({ kind: 'raw', id: '9', seq: 9, time: 0, label: 'brand_new', raw: '{"type":"brand_new","x":"<b>"}', truncated: false });
  assert.ok(raw.startsWith('<article id="tl-9" class="tl tl-raw">'));
  assert.ok(raw.includes('unrecognised output (brand_new)') && raw.includes('&lt;b&gt;'));
  assert.equal(renderMarkdown('[x](javascript:alert(1))').includes('<a'), false);
  assert.equal(renderMarkdown('[x](  JavaScript:alert(1))').includes('<a'), false);
});
