// A runner's parameter pattern in words, for the phone's command form. Only the shapes allowlists
// use are described (character classes, literals, counts, a choice of plain words); anything else
// returns null and the page shows the pattern alone. The runner checks every value itself: a
// description is help for the person typing, never a check.

const CLASS_WORDS: [RegExp, string][] = [
  [/a-z/, 'lowercase letters'],
  [/A-Z/, 'capital letters'],
  [/0-9/, 'digits'],
];
const CHAR_WORDS: Record<string, string> = { _: 'underscores', '-': 'dashes', '.': 'dots', '/': 'slashes', ' ': 'spaces', ':': 'colons', '@': 'at signs', '+': 'plus signs', ',': 'commas', '=': 'equals signs' };
const ESCAPES: Record<string, string> = { d: 'digits', w: 'letters, digits or underscores', s: 'spaces', '.': 'dots', '-': 'dashes', '/': 'slashes', _: 'underscores', '+': 'plus signs' };

function list(words: string[]): string {
  return words.length < 2 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** "a-z0-9_-" (the inside of a class) in words, or null. */
function classWords(body: string): string | null {
  if (body.startsWith('^')) return null;
  const words: string[] = [];
  let rest = body;
  for (const [re, word] of CLASS_WORDS) {
    if (re.test(rest)) {
      words.push(word);
      rest = rest.replace(re, '');
    }
  }
  for (let i = 0; i < rest.length; i++) {
    let c = rest[i]!;
    if (c === '\\') {
      c = rest[++i] ?? '';
      const w = ESCAPES[c];
      if (!w) return null;
      words.push(w);
      continue;
    }
    const w = CHAR_WORDS[c];
    if (!w) return null;
    words.push(w);
  }
  return words.length ? list([...new Set(words)]) : null;
}

function countWords(q: string): { text: string; one: boolean } | null {
  if (q === '') return { text: 'one character:', one: true };
  if (q === '+') return { text: 'one or more', one: false };
  if (q === '*') return { text: 'any number of', one: false };
  if (q === '?') return { text: 'optionally one character:', one: true };
  const m = /^\{(\d+)(,(\d*))?\}$/.exec(q);
  if (!m) return null;
  const [min, comma, max] = [Number(m[1]), m[2], m[3]];
  if (!comma) return { text: `exactly ${min}`, one: min === 1 };
  if (max === '') return { text: `${min} or more`, one: false };
  return { text: min === 0 ? `up to ${max}` : `${min} to ${max}`, one: false };
}

/**
 * A parameter pattern in words, or null when its shape is not one described here.
 * @example describePattern('[a-z0-9-]{1,40}') // '1 to 40 lowercase letters, digits or dashes'
 */
export function describePattern(pattern: string): string | null {
  const p = pattern.replace(/^\^/, '').replace(/\$$/, '');
  // A choice of plain words: (main|develop) or main|develop.
  const choice = /^\(?(?:\?:)?([\w.-]+(?:\|[\w.-]+)+)\)?$/.exec(p);
  if (choice) return `one of: ${choice[1]!.split('|').join(', ')}`;
  const parts: string[] = [];
  const atom = /(\[((?:\\.|[^\]\\])+)\]|\\([a-z.\-/_+])|([\w-]+))(\{\d+(?:,\d*)?\}|[+*?])?/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < p.length && (m = atom.exec(p))) {
    at = atom.lastIndex;
    const count = countWords(m[5] ?? '');
    if (!count) return null;
    if (m[4] !== undefined) {
      // A literal: its last character takes the count, as in the regex.
      if (m[5]) return null;
      parts.push(`“${m[4]}”`);
      continue;
    }
    const what = m[2] !== undefined ? classWords(m[2]) : ESCAPES[m[3]!] ?? null;
    if (!what) return null;
    parts.push(`${count.text} ${what}`);
  }
  if (at !== p.length || parts.length === 0) return null;
  return parts.length === 1 ? parts[0]! : `${parts.join(', then ')}`;
}
