import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RULES, RULE_STARTER, hasRuleStarter, mayMatchRule } from '../../protocol/redaction.js';

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

// hasRuleStarter is RULE_STARTER found by hand (a scan for each starter's rare character):
// they must agree on every text, at its very start and end too.
test('the hand-written starter scan says exactly what the starter pattern says', () => {
  const pieces = ['-', '--', '----', '_', 's', 'k', 'sk', 'x', 'o', 'xox', 'a', 'p', 'b', 'g', 'h', 'gh', 'github', 'pat', 'c', 'ccg', 'r', 'm', 'e', 'y', 'ey', 'J', 'A', 'K', 'I', 'S', 'KIA', 'SIA', 'BEGIN', 'BEGI', ' ', '\n', 'é'];
  const texts = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(''));
  fc.assert(
    fc.property(fc.oneof(texts, fc.string()), (text) => {
      assert.equal(hasRuleStarter(text), RULE_STARTER.test(text), JSON.stringify(text));
    }),
    { numRuns: 20_000 },
  );
  for (const starter of ['-----BEGIN', 'sk-', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', 'AKIA', 'ASIA', 'xoxa-', 'xoxr-', 'eyJ', 'ccgr_', 'ccgo_', 'ccgm_']) {
    for (const text of [starter, `${starter}x`, `x${starter}`, `a b\n${starter}`]) assert.equal(hasRuleStarter(text), true, text);
    assert.equal(hasRuleStarter(starter.slice(0, -1)), false, starter);
  }
});
