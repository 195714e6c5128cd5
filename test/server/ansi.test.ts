import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnsiHtml, ansiToHtml, ansiToText } from '../../server/render/ansi.js';

/** Everything the renderer may emit: escaped text and spans whose class names come from its fixed list. */
function assertInert(html: string): void {
  const withoutSpans = html.replace(/<span class="(a-[a-z0-9]+)( a-[a-z0-9]+)*">|<\/span>/g, '');
  assert.doesNotMatch(withoutSpans, /[<>]/, `only our spans are markup: ${html}`);
  assert.doesNotMatch(html, /\u001b|\u009b|\u009d|\u0007/, 'no control characters survive');
}

test('colours become classes; text is escaped', () => {
  const html = ansiToHtml('\u001b[1;31mred bold\u001b[0m plain \u001b[38;5;46mgreen256\u001b[39m \u001b[48;2;0;0;238mbluebg\u001b[m');
  assert.equal(html, '<span class="a-f1 a-bo">red bold</span> plain <span class="a-f10">green256</span> <span class="a-b4">bluebg</span>');
  assert.equal(ansiToHtml('a < b && "c" > \'d\''), 'a &lt; b &amp;&amp; &quot;c&quot; &gt; &#39;d&#39;');
  assert.equal(ansiToHtml('\u001b[7minv\u001b[27m \u001b[31;7mx'), '<span class="a-inv">inv</span> <span class="a-fbg a-b1">x</span>');
});

test('hostile output renders inert: script, img onerror, javascript: links, OSC 8, title sets, DCS, C1', () => {
  const cases = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    '\u001b]8;;javascript:alert(1)\u001b\\click me\u001b]8;;\u001b\\',
    '\u001b]8;;https://evil.example/\u0007link\u001b]8;;\u0007',
    '\u001b]0;pwned title\u0007after',
    '\u001b]2;title via ST\u001b\\after',
    '\u001bP1$r<script>\u001b\\dcs',
    '\u009b31mc1 csi\u009b0m \u009d0;c1 title\u009c',
    '\u001b[31m<svg onload=alert(1)>\u001b[0m',
    '\u001b[?1049h\u001b[2J\u001b[H\u001b[5;10Hcursor',
    '"><iframe src=//evil>',
    'bell\u0007 backspace\b nul\u0000 del\u007f',
  ];
  for (const c of cases) assertInert(ansiToHtml(c));
  assert.equal(ansiToText('\u001b]8;;javascript:alert(1)\u001b\\click me\u001b]8;;\u001b\\'), 'click me', 'the link text stays, the URL goes');
  assert.equal(ansiToText('\u001b]0;pwned title\u0007after'), 'after', 'a title set leaves nothing behind');
  assert.equal(ansiToHtml('<img src=x onerror=alert(1)>'), '&lt;img src=x onerror=alert(1)&gt;');
  assert.equal(ansiToText('\u001b[?1049h\u001b[2J\u001b[Hcursor'), 'cursor');
});

test('bidirectional overrides are made visible instead of reordering the page', () => {
  assert.equal(ansiToText('safe\u202eexe.txt'), 'safe\ufffdexe.txt');
  assert.equal(ansiToText('a\u2066b\u2069c'), 'a\ufffdb\ufffdc');
});

test('streaming: sequences, UTF-8 characters and CRLF split across chunks', () => {
  const r = new AnsiHtml();
  const whole = Buffer.from('x\u001b[32mgrün\u001b[0m\r\ny\u001b]0;t\u0007z\n');
  let html = '';
  for (let i = 0; i < whole.length; i++) html += r.render(whole.subarray(i, i + 1)); // one byte at a time
  assert.equal(html.replace(/<\/span><span class="a-f2">/g, ''), 'x<span class="a-f2">grün</span>\ny' + 'z\n');
  // A bare CR (progress bars) starts a new line rather than vanishing.
  assert.equal(ansiToText('10%\r20%\r30%\n'), '10%\n20%\n30%\n');
});

test('colour state carries across chunks and can be primed', () => {
  const r = new AnsiHtml();
  assert.equal(r.render(Buffer.from('\u001b[33mstill')), '<span class="a-f3">still</span>');
  assert.equal(r.render(Buffer.from(' yellow')), '<span class="a-f3"> yellow</span>');
  const primed = new AnsiHtml();
  primed.prime(Buffer.from('\u001b[34mearlier output'));
  assert.equal(primed.render(Buffer.from('later')), '<span class="a-f4">later</span>');
});

test('an escape that never ends does not swallow the output', () => {
  const r = new AnsiHtml();
  const out = r.render(Buffer.from('\u001b]8;;' + 'a'.repeat(10_000) + ' <b>visible</b>'));
  assertInert(out);
  assert.match(out, /&lt;b&gt;visible&lt;\/b&gt;/);
});

test('hostile floods of open introducers render in one pass: no recursion, no throw, output escaped', () => {
  // Each of these once re-scanned the rest of the input per introducer (quadratic time) and
  // recursed once per introducer: 32 KiB overflowed the stack and took the gateway down.
  const n = 128 * 1024;
  const floods = [
    '\u001b]'.repeat(n),
    '\u001bP'.repeat(n),
    '\u009d'.repeat(n),
    '\u001b_'.repeat(n / 2) + '\u009b'.repeat(n / 2),
    '\u001b]8;;'.repeat(n / 4) + '\u001b',
    '\u001b[' + '1;'.repeat(n),
  ];
  for (const flood of floods) {
    // Whatever follows an open sequence is held until MAX_PENDING more characters show it never ends.
    const data = Buffer.from(`<script>alert(1)</script>${flood}\n<img src=x onerror=alert(1)>${'.'.repeat(9000)} tail`);
    const html = ansiToHtml(data);
    assertInert(html);
    assert.match(html, /^&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'text before the flood is shown, escaped');
    assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;\.+ tail$/, 'text after the flood is shown, escaped');
    // The same flood streamed in chunks of every awkward size: still no throw, still inert.
    for (const size of [1, 7, 4096, 65536]) {
      if (size === 1 && data.length > 40_000) {
        const r = new AnsiHtml();
        let out = '';
        for (let i = 0; i < 40_000; i++) out += r.render(data.subarray(i, i + 1));
        assertInert(out);
        continue;
      }
      const r = new AnsiHtml();
      let out = '';
      for (let i = 0; i < data.length; i += size) out += r.render(data.subarray(i, i + size));
      out += r.render(new Uint8Array(0));
      assertInert(out);
      assert.match(out, /tail$/, `chunks of ${size}: the tail is shown`);
    }
  }
  // A long but legitimate string sequence that ends is still dropped whole, across chunks.
  const r = new AnsiHtml();
  let out: string = r.render(Buffer.from('a\u001b]52;c;' + 'QUJD'.repeat(1000)));
  out += r.render(Buffer.from('QUJD'.repeat(500) + '\u0007b'));
  assert.equal(out, 'ab');
});
