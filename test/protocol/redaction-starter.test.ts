import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RULES, mayMatchRule } from '../../protocol/redaction.js';

// mayMatchRule is a prefilter: a text it does not match is not scanned by RULES at all, so it
// must match every text that any rule matches. fast-check generates strings from each rule's
// own regular expression, with noise around them.
test('every text a redaction rule matches also trips the prefilter', () => {
  for (const rule of RULES) {
    const re = new RegExp(rule.re.source, rule.re.flags.replace('g', ''));
    // fast-check generates no word boundaries: drop them here; fc.pre keeps only real matches.
    const source = rule.re.source.replace(/\\b/g, '');
    // fast-check cannot generate from a case-insensitive pattern: generate from the
    // case-sensitive one, then flip the case of random letters.
    const secrets = rule.re.ignoreCase
      ? fc.tuple(fc.stringMatching(new RegExp(source)), fc.array(fc.boolean(), { minLength: 64, maxLength: 64 })).map(([s, flips]) =>
          [...s].map((c, i) => (flips[i % 64] ? c.toUpperCase() : c.toLowerCase())).join(''),
        )
      : fc.stringMatching(new RegExp(source, re.flags));
    fc.assert(
      fc.property(fc.string(), secrets, fc.string(), (before, secret, after) => {
        const text = before + secret + after;
        fc.pre(re.test(text));
        assert.ok(mayMatchRule(text), `${rule.kind}: ${JSON.stringify(secret)} does not trip the prefilter`);
      }),
      { numRuns: 300 },
    );
  }
});
