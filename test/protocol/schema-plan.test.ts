import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { PLANS } from '../../cli/client/plans.js';
import { SavedConfig } from '../../cli/config-schema.js';
import { ListRunsResponse } from '../../protocol/api.js';
import { cappedJson } from '../../protocol/claude-events.js';
import { ApprovalResponse } from '../../protocol/claude-control.js';
import { QuestionAnswers } from '../../protocol/claude-steer.js';
import { parseByPlan, type Plan } from '../../protocol/plan-parse.js';
import { planOf } from '../../protocol/schema-plan.js';

// The CLI checks some answers with a plan instead of zod (protocol/plan-parse.ts). The promise:
// whatever the plan accepts, the zod schema accepts too, with the same output; on anything else
// the plan says "unsure" and zod decides. Checked here on valid answers, on random damage to
// them, and on a zoo of schemas with every kind of node the plan knows and some it does not.

/** The plan's verdict on `value` against the schema's own. */
function agree(plan: Plan, schema: z.ZodType, value: unknown): 'fast' | 'zod' {
  const fast = parseByPlan(plan, value);
  if (!fast) return 'zod';
  const checked = schema.safeParse(value);
  assert.ok(checked.success, `the plan accepted what zod refuses: ${JSON.stringify(value)?.slice(0, 300)} (${checked.error?.issues[0]?.message})`);
  assert.deepEqual(fast.value, checked.data);
  assert.equal(JSON.stringify(fast.value), JSON.stringify(checked.data)); // same key order: --json prints it
  return 'fast';
}

const run = {
  id: 'gqjth3tpd6fh', name: 'bench', status: 'running', runnerConnected: true, createdAt: 1796577274439, updatedAt: 1796577274439,
  startedAt: 1796577275000, endedAt: null, exitCode: null, signal: null, reason: null, lastSeq: 12, bytes: 3400, createdBy: 'alice',
  runner: {
    hostname: 'box', pid: 4242, version: '0.1.0', mode: 'claude', command: ['claude', '-p', 'hi'], cwd: '/work', pty: false,
    commands: [{ name: 'test', params: [{ name: 'file', pattern: '^[a-z]+$' }], timeoutMs: 60000, description: 'npm test' }],
    assist: { maxMinutes: 30 }, artifactGlobs: ['*.log'], remote: { input: true, approval: true, bypass: false },
  },
  origin: { machine: 'm1', workspace: 'ws', mode: null, model: 'opus', previous: null, next: null, sessionId: 'abc', start: 'started' },
  claude: { costUsd: 0.12, lastTurnCostUsd: 0.01, maxBudgetUsd: 5, retrying: { attempt: 2, maxRetries: 10, error: 'API overloaded (529)', since: 1 }, stopped: null },
  runnerLostAt: null,
};
const olderRun = { ...run, runner: { hostname: 'h', pid: 1, version: '1', mode: 'command', command: [], cwd: '/' } }; // pty and commands from their defaults
delete (olderRun as unknown as Partial<typeof run>).origin;
delete (olderRun as unknown as Partial<typeof run>).claude;
const approval = {
  approvalId: 'aJx2bbbbbbbbbbbbbbbbbbbbbb', toolName: 'Bash', displayName: null, toolUseId: 'toolu_1', input: { command: 'npm test', nested: [1, 'two', { three: null }] },
  inputTruncated: false, description: 'Run the tests', blockedPath: null, rule: { toolName: 'Bash', ruleContent: 'npm test' }, expiresAt: 1796577374439,
  modeSuggestion: null, questions: [{ question: 'Which?', header: 'Pick', multiSelect: false, options: [{ label: 'A', description: 'first' }] }],
  plan: null, planTruncated: false, diff: { path: 'a.ts', text: '--- a\n+++ b\n', truncated: false, note: null },
  runId: 'gqjth3tpd6fh', state: 'answered', requestedAt: 1796577274439,
  answer: { decision: 'allow', always: true, message: null, by: 'alice', at: 1796577275439, answers: { 'Which?': 'A' }, mode: 'default' },
  resolution: null,
};
const saved = { gateway: 'https://127.0.0.1:3100', fingerprint: null, token: `ccgo_${'a'.repeat(43)}`, user: { name: 'alice', role: 'admin' }, savedAt: '2026-12-06T17:00:00Z' };

const CASES: [string, Plan, z.ZodType, unknown[]][] = [
  ['ListRunsResponse', PLANS.ListRunsResponse, ListRunsResponse, [{ runs: [] }, { runs: [run, olderRun] }, { runs: [{ ...run, extra: 'stripped' }], more: 1 }]],
  ['ApprovalResponse', PLANS.ApprovalResponse, ApprovalResponse, [{ approval }, { approval: { ...approval, questions: undefined, answer: null, input: 'x' } }]],
  ['SavedConfig', PLANS.SavedConfig, SavedConfig, [saved, { gateway: 'https://gw.example:443', fingerprint: `sha256:${'0'.repeat(64)}`, token: saved.token }]],
];

test("the CLI's plans cover their whole schema, so the usual answer never needs zod", () => {
  for (const [name, , schema, samples] of CASES) {
    const unsure: string[] = [];
    planOf(schema, (why) => unsure.push(why));
    assert.deepEqual(unsure, [], name);
    for (const s of samples) assert.equal(agree(PLANS[name as keyof typeof PLANS], schema, JSON.parse(JSON.stringify(s))), 'fast', `${name}: ${JSON.stringify(s).slice(0, 100)}`);
  }
});

/** Every path (keys and indexes) into a JSON value. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((e, i) => out.push(...paths(e, [...at, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, e] of Object.entries(v)) out.push(...paths(e, [...at, k]));
  return out;
}

/** `v` with the value at `path` replaced (or deleted, or given an extra key). */
function damage(v: unknown, path: (string | number)[], how: { kind: 'set' | 'delete' | 'extra'; value: unknown; key: string }): unknown {
  const copy = JSON.parse(JSON.stringify(v)) as unknown;
  if (path.length === 0) return how.kind === 'set' ? how.value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (how.kind === 'set') parent[last] = how.value;
  else if (how.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (typeof target === 'object' && target !== null && !Array.isArray(target)) (target as Record<string, unknown>)[how.key] = how.value;
    else parent[last] = how.value;
  }
  return copy;
}

// Values that sit on the schemas' edges: limits, odd numbers, keys the prototype knows.
const edgy = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(0, -1, 1.5, -0, 2 ** 53, 2 ** 53 - 1, 1e308, '', ' https://x ', 'https://x\t', 'not a url', 'created', 'nope', null, true, [], {}),
  fc.integer({ min: 0, max: 70 }).map((n) => 'x'.repeat(n)),
  fc.nat(300).map((n) => 'y'.repeat(n * 20)),
);
const extraKey = fc.constantFrom('extra', '__proto__', 'constructor', 'toString', 'runs', 'input', '');

test('whatever the plan accepts, zod accepts with the same output (random damage to valid answers)', () => {
  for (const [name, plan, schema, samples] of CASES) {
    let fast = 0;
    let zod = 0;
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.nat(), fc.constantFrom<'set' | 'delete' | 'extra'>('set', 'delete', 'extra'), edgy, extraKey, (sample, pick, kind, value, key) => {
        const all = paths(JSON.parse(JSON.stringify(sample)));
        const target = JSON.parse(JSON.stringify(damage(sample, all[pick % all.length]!, { kind, value, key }))) as unknown;
        if (agree(plan, schema, target) === 'fast') fast++;
        else zod++;
      }),
      { numRuns: 3000 },
    );
    assert.ok(fast > 100 && zod > 100, `${name}: both ways taken (${fast} fast, ${zod} zod)`);
  }
});

test("named refinements keep their promise: cappedJson's size and the answers' count", () => {
  const capped = cappedJson(20);
  const cappedPlan = planOf(capped);
  for (const v of ['x'.repeat(17), 'x'.repeat(18), 'x'.repeat(19), [1, 2, 3, 4, 5, 6, 7, 8, 9], { a: 'bbbbbbbbbbbbb' }, { a: 'bbbbbbbbbbbbbb' }]) {
    const fast = parseByPlan(cappedPlan, v);
    assert.equal(Boolean(fast), capped.safeParse(v).success, JSON.stringify(v));
  }
  const answersPlan = planOf(QuestionAnswers);
  for (const v of [{}, { a: 'x' }, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`q${i}`, 'x'])), Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`q${i}`, 'x']))]) {
    assert.equal(Boolean(parseByPlan(answersPlan, v)), QuestionAnswers.safeParse(v).success, JSON.stringify(v));
  }
  // A refinement without a name is zod's to judge.
  const unnamed = planOf(z.string().refine((s) => s !== 'no'));
  assert.equal(parseByPlan(unnamed, 'yes'), undefined);
});

test('a zoo of schemas: the plan agrees with zod where it knows the kind of node, and defers where it does not', () => {
  const zoo: [z.ZodType, boolean][] = [
    [z.object({ a: z.string().min(2).max(4), b: z.number().int().min(-3).max(3).optional(), c: z.boolean().nullable().default(true) }), true],
    [z.object({ a: z.enum(['x', 'y']), b: z.literal(3), c: z.array(z.string().regex(/^[a-c]+$/)).min(1).max(3) }).strict(), true],
    [z.union([z.string().length(2), z.number().positive(), z.object({ k: z.null() })]), true],
    [z.record(z.string().max(3), z.number().nonnegative()), true],
    [z.object({ u: z.string().url(), d: z.array(z.number()).default([1, 2]) }), true],
    [z.object({ lazy: z.lazy(() => z.string()) }), true],
    // kinds it does not follow: zod decides
    [z.string().trim(), false],
    [z.object({ t: z.string().transform((s) => s.length) }), false],
    [z.looseObject({ a: z.string() }), false],
    [z.discriminatedUnion('k', [z.object({ k: z.literal('a') }), z.object({ k: z.literal('b'), v: z.number() })]), false],
    [z.object({ e: z.string().email() }), false],
    [z.object({ g: z.string().regex(/a/g) }), false],
    [z.record(z.enum(['a', 'b']), z.string()), false],
    [z.string().optional().default('d'), true],
    [z.string().default('d').optional(), false],
    [z.number().multipleOf(2), false],
  ];
  for (const [schema, covered] of zoo) {
    const unsure: string[] = [];
    const plan = planOf(schema, (why) => unsure.push(why));
    assert.equal(unsure.length === 0, covered, `${JSON.stringify(plan)} ${unsure.join('; ')}`);
    fc.assert(
      fc.property(fc.oneof(edgy, fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'k', 'v', 'u', 't', 'e', 'g', 'lazy', '__proto__'), edgy, { maxKeys: 5 })), (v) => {
        agree(plan, schema, JSON.parse(JSON.stringify(v ?? null)));
      }),
      { numRuns: 500 },
    );
  }
});
