import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type MarkdownItType from 'markdown-it';
import { visibleText } from '../../protocol/terminal-escapes.js';
import { escapeHtml, html, raw, type SafeHtml } from './html.js';

/**
 * Claude's markdown as safe HTML, at a bounded cost whatever the text.
 *
 * markdown-it's inline parser is superlinear in the number of delimiters of one paragraph:
 * 64 KiB of `*a*a…` took 1.5 s of event loop, and a page of 32 such events froze the gateway
 * for every viewer. So:
 * - only the first MD_MAX_CHARS of a text are rendered as markdown; the rest is shown as plain
 *   escaped text behind "show the rest" (linear);
 * - a paragraph with more than MD_MAX_DELIMITERS emphasis, link or code delimiters, or past the
 *   text's MD_DELIMITER_BUDGET, is not given to the inline parser at all: it is shown as its
 *   plain text, line breaks kept (linear); nesting stops at MD_MAX_NESTING;
 * - the HTML of each text is cached by its SHA-256 (an LRU of MD_CACHE_BYTES), so reloading a
 *   page, or the next viewer, renders nothing again.
 */

/** Characters of one text rendered as markdown; the rest is plain text. */
export const MD_MAX_CHARS = 8 * 1024;
/**
 * Delimiter characters one paragraph may have and still be parsed as inline markdown: the
 * parser's time grows about with their cube in a paragraph (250 `*` took 15 ms).
 */
export const MD_MAX_DELIMITERS = 64;
/** Delimiter characters handed to the inline parser per text, all paragraphs together. */
export const MD_DELIMITER_BUDGET = 512;
/**
 * Lines with a `|` one text may have and still be parsed as markdown: markdown-it's table rule
 * (and, without it, its setext heading scan) is superlinear in such rows (8 KiB of `x|` rows took
 * 30-90 ms per text); past this the text is shown as its plain text, line breaks kept (linear).
 */
export const MD_MAX_TABLE_ROWS = 200;
/**
 * Link candidates (`://`, `@`, `www.`) one paragraph may have and still be linkified: linkify's
 * scan is superlinear in them (8 KiB of `a@b.co ` took ~150 ms, of `http://` 5-50 ms). A denser
 * paragraph takes the plain path, as a paragraph dense with delimiters does.
 */
export const MD_MAX_LINKS = 32;
/** Link candidates handed to linkify per text, all paragraphs together. */
export const MD_LINK_BUDGET = 128;
/** Blockquotes and lists nested deeper than this are text (markdown-it's default is 100). */
export const MD_MAX_NESTING = 20;
/** The render cache's budget (HTML bytes, as UTF-16 length). */
export const MD_CACHE_BYTES = 16 * 1024 * 1024;

/** What the renderer did, for tests and diagnostics: the parser's work is what costs. */
export const markdownStats = { renders: 0, cacheHits: 0, inlineParses: 0, inlineChars: 0, inlineDelimiters: 0, plainParagraphs: 0, plainTexts: 0 };

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
// Characters markdown-it's inline rules open or close on (emphasis, strikethrough, links,
// images, code spans, autolinks, entities, escapes).
const DELIMITER = /[*_~[\]`<>!&\\]/g;
// What linkify starts a match on: a scheme's `://`, an e-mail's `@`, a fuzzy `www.`.
const LINK_CANDIDATE = /:\/\/|@|www\./gi;
const TABLE_LINE = /^[^\n]*\|/gm;

// Terminal escape sequences and other control characters (tab and newline kept) mean nothing in a
// page and would only show as garbage; bidi controls are shown as U+FFFD, as everywhere.
function clean(s: string): string {
  return visibleText(s, { cr: 'newline' });
}

function countMatches(re: RegExp, s: string, stopAt = Infinity): number {
  re.lastIndex = 0;
  let n = 0;
  while (n < stopAt && re.exec(s) !== null) n++;
  return n;
}

type Md = InstanceType<typeof MarkdownItType>;
type CoreState = Parameters<Parameters<Md['core']['ruler']['at']>[1]>[0];

function createMarkdown(): Md {
  // Required on first use (the first Claude timeline rendered), not at gateway start.
  const MarkdownIt = createRequire(import.meta.url)('markdown-it') as typeof MarkdownItType;
  const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false, maxNesting: MD_MAX_NESTING });
  // No images: a remote image is a tracking pixel and a CSP violation; its alt text and URL stay visible as text.
  md.disable('image');
  md.validateLink = (url: string) => SAFE_LINK.test(url.trim());
  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const t = tokens[idx]!;
    t.attrSet('rel', 'noopener noreferrer nofollow');
    t.attrSet('target', '_blank');
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  // markdown-it escapes text with a callback per character; the one escaper is several times faster on text dense with `<`.
  md.renderer.rules.text = (tokens, idx) => escapeHtml(tokens[idx]!.content);
  // markdown-it's own 'inline' core rule, with a linear way out for paragraphs dense with
  // delimiters: their text as it is, one line per line (softbreak is <br> with breaks: true).
  md.core.ruler.at('inline', (state: CoreState) => {
    let budget = MD_DELIMITER_BUDGET;
    let links = MD_LINK_BUDGET;
    for (const tok of state.tokens) {
      if (tok.type !== 'inline') continue;
      tok.children ??= [];
      const delimiters = countMatches(DELIMITER, tok.content);
      const candidates = countMatches(LINK_CANDIDATE, tok.content, MD_MAX_LINKS + 1);
      if (delimiters > MD_MAX_DELIMITERS || delimiters > budget || candidates > MD_MAX_LINKS || candidates > links) {
        markdownStats.plainParagraphs++;
        tok.content.split('\n').forEach((line, i) => {
          if (i > 0) tok.children!.push(new state.Token('softbreak', 'br', 0));
          const t = new state.Token('text', '', 0);
          t.content = line;
          tok.children!.push(t);
        });
        // The renderer reads only the children; an empty content also keeps linkify (whose
        // scan of such text is superlinear too) away from it.
        tok.content = '';
        continue;
      }
      budget -= delimiters;
      links -= candidates;
      markdownStats.inlineParses++;
      markdownStats.inlineChars += tok.content.length;
      markdownStats.inlineDelimiters += delimiters;
      state.md.inline.parse(tok.content, state.md, state.env, tok.children);
    }
  });
  return md;
}

let md: Md | undefined;

/** Least recently used first (a Map keeps insertion order; a hit is re-inserted). */
const cache = new Map<string, string>();
let cacheSize = 0;

function remember(key: string, value: string): void {
  cache.set(key, value);
  cacheSize += value.length;
  while (cacheSize > MD_CACHE_BYTES && cache.size > 1) {
    const [k, v] = cache.entries().next().value as [string, string];
    cache.delete(k);
    cacheSize -= v.length;
  }
}

function render(text: string): string {
  const src = clean(text);
  const head = src.length > MD_MAX_CHARS ? src.slice(0, MD_MAX_CHARS) : src;
  let out: string;
  if (countMatches(TABLE_LINE, head, MD_MAX_TABLE_ROWS + 1) > MD_MAX_TABLE_ROWS) {
    // Too many rows for the block parser's table and heading rules (superlinear in them): the text as it is, line by line.
    markdownStats.plainTexts++;
    out = `<p>${escapeHtml(head).replace(/\n/g, '<br>\n')}</p>\n`;
  } else {
    out = (md ??= createMarkdown()).render(head); // html: false, so every text is escaped by markdown-it
  }
  if (head.length === src.length) return out;
  const rest = src.slice(head.length);
  return out + html`<details class="tl-more"><summary>show the rest (${escapeHtml(rest.length.toLocaleString('en-US'))} more characters, as plain text)</summary><pre class="tl-md-rest">${escapeHtml(rest)}</pre></details>`;
}

/** Claude's markdown as safe HTML (no raw HTML, safe links only, no images), at a bounded cost. */
export function renderMarkdown(text: string): SafeHtml {
  markdownStats.renders++;
  const key = createHash('sha256').update(text).digest('base64url');
  const hit = cache.get(key);
  if (hit !== undefined) {
    markdownStats.cacheHits++;
    cache.delete(key);
    cache.set(key, hit);
    return raw(hit);
  }
  const out = render(text);
  if (out.length <= MD_CACHE_BYTES / 16) remember(key, out);
  return raw(out);
}

/** Empties the render cache (tests). */
export function clearMarkdownCache(): void {
  cache.clear();
  cacheSize = 0;
}
