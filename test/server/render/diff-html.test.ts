import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderDiffHtml } from '../../../server/render/diff-html.js';

const DIFF = [
  'diff --git a/src/app.js b/src/app.js',
  'index 1111111..2222222 100644',
  '--- a/src/app.js',
  '+++ b/src/app.js',
  '@@ -1,3 +1,3 @@ function main() {',
  " const a = 1;",
  "-console.log('v1');",
  "+console.log('v2');",
  ' }',
  '\\ No newline at end of file',
  'diff --git a/new.txt b/new.txt',
  'new file mode 100644',
  'index 0000000..3333333',
  '--- /dev/null',
  '+++ b/new.txt',
  '@@ -0,0 +1,2 @@',
  '+hello',
  '+world',
  'diff --git a/logo.png b/logo.png',
  'index 4444444..5555555 100644',
  'Binary files a/logo.png and b/logo.png differ',
  '',
].join('\n');

/** Only the renderer's own tags and classes: nothing from the diff became markup. */
function tags(html: string): string[] {
  return [...new Set([...html.matchAll(/<([a-z0-9]+)[\s>]/g)].map((m) => m[1]!))].sort();
}

test('a diff renders as one section per file: name, counts, hunks, added / removed / context lines by class', () => {
  const r = renderDiffHtml(DIFF);
  assert.deepEqual(r.files.map((f) => [f.name, f.adds, f.dels, f.note]), [['src/app.js', 1, 1, null], ['new.txt', 2, 0, 'new'], ['logo.png', 0, 0, 'binary']]);
  assert.equal(r.truncated, false);
  assert.deepEqual(tags(r.html), ['div', 'h3', 'section', 'span']);
  assert.match(r.html, /<section class="df-file" id="f-1" aria-label="src\/app\.js"><h3 class="df-name">src\/app\.js <span class="df-stat"><span class="df-adds">\+1<\/span> <span class="df-dels">−1<\/span><\/span><\/h3>/);
  assert.match(r.html, /<span class="dl dl-hunk">@@ -1,3 \+1,3 @@ function main\(\) \{<\/span>/);
  assert.match(r.html, /<span class="dl dl-del">-console\.log\(&#39;v1&#39;\);<\/span>/);
  assert.match(r.html, /<span class="dl dl-add">\+console\.log\(&#39;v2&#39;\);<\/span>/);
  assert.match(r.html, /<span class="dl dl-ctx"> const a = 1;<\/span>/);
  assert.match(r.html, /<span class="dl dl-meta">\\ No newline at end of file<\/span>/);
  assert.match(r.html, /<span class="df-note">new<\/span>/);
  assert.doesNotMatch(r.html, /index 1111111|\+\+\+ b\//, 'the file heading replaces the index and ---/+++ lines');
  assert.match(r.html, /Binary files a\/logo\.png and b\/logo\.png differ/);
});

test('hostile diff content stays text: tags escaped, terminal escapes and controls dropped, bidi overrides shown', () => {
  const hostile = [
    'diff --git a/x"><img src=x onerror=alert(1)>.js b/x"><img src=x onerror=alert(1)>.js',
    '@@ -1 +1 @@',
    '-<script>alert(2)</script>',
    '+\u001b]8;;javascript:alert(3)\u0007link\u001b]8;;\u0007 \u001b[31mred\u001b[0m \u0000nul \u202egnp.exe \u2066x\u2069',
    '',
  ].join('\n');
  const r = renderDiffHtml(hostile);
  assert.deepEqual(tags(r.html), ['div', 'h3', 'section', 'span']);
  assert.match(r.html, /-&lt;script&gt;alert\(2\)&lt;\/script&gt;/);
  assert.match(r.html, /x&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;\.js/);
  assert.doesNotMatch(r.html, /[\u0000-\u0008\u000b-\u001f\u007f\u202e\u2066\u2069]/);
  assert.match(r.html, /\+link red nul \ufffdgnp\.exe \ufffdx\ufffd/);
});

test('long diffs stop at maxLines, long lines at maxLineChars; text that is not a diff still shows', () => {
  const many = ['diff --git a/a b/a', '@@ -1,500 +1,500 @@', ...Array.from({ length: 500 }, (_, i) => `+line ${i}`)].join('\n');
  const r = renderDiffHtml(many, { maxLines: 100 });
  assert.equal(r.truncated, true);
  assert.equal(r.lines, 100);
  assert.equal(r.files[0]!.adds, 98);
  const long = renderDiffHtml(`diff --git a/a b/a\n@@ -1 +1 @@\n+${'x'.repeat(5000)}\n`, { maxLineChars: 100 });
  assert.match(long.html, /\+x{99}…<\/span>/);
  const plain = renderDiffHtml('just some text\n');
  assert.equal(plain.files[0]!.name, '(diff)');
  assert.match(plain.html, /just some text/);
  assert.deepEqual(renderDiffHtml('').files, []);
});
