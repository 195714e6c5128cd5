/**
 * The one HTML escaper, and a type for HTML that is safe to insert (Hono's `HtmlEscapedString`
 * idea). A `SafeHtml` is a plain string at runtime; the brand exists only for the compiler, so a
 * function that returns page markup says `SafeHtml`, and text from a runner, Claude or a request
 * cannot reach a template or a `<%~` without going through `escapeHtml` (or a renderer that
 * escapes) on the way.
 *
 * Why not Hono's runtime wrapper (a `String` object with `isEscaped`): fragments here are also
 * compared, searched, concatenated into SSE frames and handed to eta, all as primitive strings.
 * So the check is at compile time: `html` accepts only SafeHtml (and numbers), never a string.
 */

declare const brand: unique symbol;

/** HTML that is safe to insert as is: escaped text, or markup built only from escaped parts and constants. */
export type SafeHtml = string & { readonly [brand]: true };

/** What `html` accepts between its constant parts; nullish and booleans render as nothing. */
export type HtmlValue = SafeHtml | number | boolean | null | undefined | readonly SafeHtml[];

const SPECIAL = /[&<>"']/;

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): SafeHtml {
  // Most text has nothing to escape: skip the replace (and its allocation) then. Five native
  // replaces, `&` first: a callback per character was the slowest part of rendering text dense
  // with `<` (35 ms for 56 KiB of `<a`; now well under 1 ms).
  if (!SPECIAL.test(s)) return s as SafeHtml;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;') as SafeHtml;
}

/**
 * Marks trusted markup as safe: a constant of ours, or the output of a renderer that escapes
 * (markdown-it with HTML off, eta). Never for text that came from outside.
 */
export function raw(trusted: string): SafeHtml {
  return trusted as SafeHtml;
}

/**
 * Builds markup from constant parts and safe values. A plain string is a compile error: wrap text
 * in `escapeHtml`.
 *
 * @example
 * html`<p class="tl-note">${escapeHtml(name)} · ${count}</p>`
 */
export function html(parts: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = parts[0]!;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number') out += String(v);
    else if (Array.isArray(v)) out += v.join('');
    else if (typeof v === 'string') out += v;
    out += parts[i + 1]!;
  }
  return out as SafeHtml;
}

/** Joins safe fragments. */
export function joinHtml(parts: readonly SafeHtml[], sep: SafeHtml = '' as SafeHtml): SafeHtml {
  return parts.join(sep) as SafeHtml;
}

/**
 * Escapes a message and renders its `backticked` spans as <code>, for messages written for a
 * terminal too (the same text the CLI prints shows its commands and file names in backticks).
 *
 * @example
 * codeSpans('It is printed by `ccg serve`.') // 'It is printed by <code>ccg serve</code>.'
 */
export function codeSpans(text: string): SafeHtml {
  return joinHtml(text.split(/(`[^`\n]+`)/).map((part) => (/^`[^`\n]+`$/.test(part) ? html`<code>${escapeHtml(part.slice(1, -1))}</code>` : escapeHtml(part))));
}
