import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codeSpans, escapeHtml, html, joinHtml, raw } from '../../../server/render/html.js';
import type { Views } from '../../../server/http/views.js';

test('escapeHtml escapes the five characters that matter in content and quoted attributes', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  assert.equal(escapeHtml('plain text'), 'plain text');
});

test('html inserts safe fragments and numbers as they are, and nothing for null, undefined and booleans', () => {
  const name = escapeHtml('<b>');
  assert.equal(html`<p class="${raw('x')}">${name} ${3} ${null}${undefined}${false}${[escapeHtml('&'), raw('<br>')]}</p>`, '<p class="x">&lt;b&gt; 3 &amp;<br></p>');
  assert.equal(joinHtml([raw('<i>'), escapeHtml('"')], raw('\n')), '<i>\n&quot;');
});

test('unescaped text cannot reach a fragment or a raw template slot (checked by the compiler)', () => {
  const untrusted: string = '<script>';
  // @ts-expect-error a plain string is not SafeHtml
  const fragment = html`<p>${untrusted}</p>`;
  assert.equal(typeof fragment, 'string');
  const views = { partial: (_name: string, _data: unknown) => raw('') } as unknown as Views;
  // @ts-expect-error a template's raw slot takes SafeHtml only
  views.partial('run/timeline', { html: untrusted });
  // @ts-expect-error the same for the output window
  views.partial('run-earlier', { output: { html: untrusted } });
  views.partial('run/timeline', { html: escapeHtml(untrusted) });
});

test('codeSpans escapes a message and renders its `backticked` spans as <code>', () => {
  assert.equal(codeSpans('printed by `ccg serve` and kept in `setup.code`.'), 'printed by <code>ccg serve</code> and kept in <code>setup.code</code>.');
  assert.equal(codeSpans('a `<b>` & `x'), 'a <code>&lt;b&gt;</code> &amp; `x');
  assert.equal(codeSpans('no code'), 'no code');
});
