import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describePattern } from '../../../server/render/pattern-words.js';

test('describePattern: the shapes allowlists use, in words', () => {
  assert.equal(describePattern('[a-z]{1,12}'), '1 to 12 lowercase letters');
  assert.equal(describePattern('[a-z0-9-]{1,40}'), '1 to 40 lowercase letters, digits or dashes');
  assert.equal(describePattern('^[A-Za-z0-9_./-]+$'), 'one or more lowercase letters, capital letters, digits, underscores, dots, slashes or dashes');
  assert.equal(describePattern('\\d{4}'), 'exactly 4 digits');
  assert.equal(describePattern('[0-9]{0,3}'), 'up to 3 digits');
  assert.equal(describePattern('v[0-9]+'), '“v”, then one or more digits');
  assert.equal(describePattern('(main|develop|release-1.2)'), 'one of: main, develop, release-1.2');
  assert.equal(describePattern('staging|prod'), 'one of: staging, prod');
});

test('describePattern: anything else is left to the pattern itself', () => {
  for (const p of ['[^a-z]+', '(a|b)+c', '.*', '[a-z]{2}(x|y)', 'a{2}', '[\\p{L}]+', '']) assert.equal(describePattern(p), null, p);
});
