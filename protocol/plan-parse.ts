/**
 * A zod-free checker for a few of the protocol's response schemas, so that a script's `ccg runs
 * list` or `ccg runs approve` need not load zod (most of their start-up). The schema stays the one
 * truth: a plan is derived from it (protocol/schema-plan.ts, at bundle time) and this file only
 * follows the plan. It is deliberately partial: it accepts only a value the zod schema accepts,
 * and returns what zod's parse would return (unknown keys stripped, defaults filled in). On
 * anything else, a refusal or a case it does not know, it answers `undefined` and the caller asks
 * the zod schema itself, which then says exactly what is wrong.
 */

/** A check on a node's value: the subset of zod checks a plan can carry. */
export type PlanCheck =
  | ['minLen', number]
  | ['maxLen', number]
  | ['len', number]
  | ['re', string, string]
  | ['gt', number, boolean]
  | ['lt', number, boolean]
  | ['safeint']
  /** zod's plain `.url()`, for a value its trimming leaves as it is. */
  | ['url']
  /** JSON.stringify(value).length ≤ n (protocol/claude-events.ts cappedJson). */
  | ['jsonMax', number]
  /** min ≤ Object.keys(value).length ≤ max (protocol/claude-steer.ts QuestionAnswers). */
  | ['keys', number, number];

/** How a property sits in its object: zod's optin/optout of the property's schema. */
export type PlanKey = [name: string, node: number, optin: 'optional' | 'defaulted' | null, optout: 'optional' | null];

export type PlanNode = { c?: PlanCheck[] } & (
  | { t: 'string' | 'number' | 'boolean' | 'null' }
  | { t: 'values'; v: (string | number | boolean | null)[] }
  | { t: 'array'; of: number }
  | { t: 'object'; keys: PlanKey[]; strict: boolean }
  | { t: 'optional' | 'nullable' | 'lazy'; of: number }
  | { t: 'default'; of: number; value: string }
  | { t: 'union'; of: number[] }
  | { t: 'record'; key: number; value: number }
  /** A part of the schema a plan cannot follow: reaching it means asking zod. */
  | { t: 'zod' }
);

/** A schema as data: its nodes (cycles by index, for recursive JSON values), the root first. */
export interface Plan {
  nodes: PlanNode[];
}

/** Thrown inside the walk: "not sure, ask zod". Never escapes parseByPlan. */
const ASK_ZOD: unique symbol = Symbol('ask zod');

const hasOwn = Object.prototype.hasOwnProperty;
const regexCache = new Map<string, RegExp>();

function regex(source: string, flags: string): RegExp {
  const key = `${flags}/${source}`;
  let re = regexCache.get(key);
  if (!re) regexCache.set(key, (re = new RegExp(source, flags)));
  return re;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function canParseUrl(v: string): boolean {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

function check(c: PlanCheck, v: unknown): boolean {
  switch (c[0]) {
    case 'minLen':
      return (v as { length: number }).length >= c[1];
    case 'maxLen':
      return (v as { length: number }).length <= c[1];
    case 'len':
      return (v as { length: number }).length === c[1];
    case 're':
      return typeof v === 'string' && regex(c[1], c[2]).test(v);
    case 'gt':
      return typeof v === 'number' && (c[2] ? v >= c[1] : v > c[1]);
    case 'lt':
      return typeof v === 'number' && (c[2] ? v <= c[1] : v < c[1]);
    case 'safeint':
      return Number.isSafeInteger(v);
    case 'url':
      // zod trims the value and drops tabs and line breaks before parsing it: only a value those
      // leave alone keeps zod's output equal to the input.
      return typeof v === 'string' && v === v.trim() && !/[\t\n\r]/.test(v) && canParseUrl(v);
    case 'jsonMax': {
      const s = JSON.stringify(v) as string | undefined;
      return s !== undefined && s.length <= c[1];
    }
    case 'keys': {
      const n = Object.keys(v as object).length;
      return n >= c[1] && n <= c[2];
    }
  }
}

/** The node's output for `v`, or ASK_ZOD thrown. */
function walk(plan: Plan, id: number, v: unknown): unknown {
  const node = plan.nodes[id];
  if (!node) throw ASK_ZOD;
  let out: unknown;
  switch (node.t) {
    case 'string':
    case 'boolean':
      if (typeof v !== node.t) throw ASK_ZOD;
      out = v;
      break;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw ASK_ZOD;
      out = v;
      break;
    case 'null':
      if (v !== null) throw ASK_ZOD;
      out = v;
      break;
    case 'values':
      if (!node.v.includes(v as string)) throw ASK_ZOD;
      out = v;
      break;
    case 'array':
      if (!Array.isArray(v)) throw ASK_ZOD;
      out = v.map((e) => walk(plan, node.of, e));
      break;
    case 'object':
      out = walkObject(plan, node.keys, node.strict, v);
      break;
    case 'optional':
      out = v === undefined ? undefined : walk(plan, node.of, v);
      break;
    case 'nullable':
      out = v === null ? null : walk(plan, node.of, v);
      break;
    case 'lazy':
      out = walk(plan, node.of, v);
      break;
    case 'default':
      // zod hands out a copy of the default and does not check it; the plan holds it as JSON.
      out = v === undefined ? JSON.parse(node.value) : walk(plan, node.of, v);
      break;
    case 'union': {
      // zod's union: the first option that accepts the value wins.
      let found = false;
      for (const option of node.of) {
        try {
          out = walk(plan, option, v);
          found = true;
          break;
        } catch (err) {
          if (err !== ASK_ZOD) throw err;
        }
      }
      if (!found) throw ASK_ZOD;
      break;
    }
    case 'record': {
      if (!isPlainObject(v)) throw ASK_ZOD;
      const rec: Record<string, unknown> = {};
      for (const key of Reflect.ownKeys(v)) {
        if (typeof key !== 'string' || key === '__proto__' || !Object.prototype.propertyIsEnumerable.call(v, key)) throw ASK_ZOD;
        const k = walk(plan, node.key, key);
        if (k !== key) throw ASK_ZOD;
        rec[key] = walk(plan, node.value, v[key]);
      }
      out = rec;
      break;
    }
    default:
      throw ASK_ZOD;
  }
  if (node.c) for (const c of node.c) if (!check(c, out)) throw ASK_ZOD;
  return out;
}

/** zod's object parse (handlePropertyResult), for the cases a plan knows. */
function walkObject(plan: Plan, keys: PlanKey[], strict: boolean, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw ASK_ZOD;
  const input = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, id, optin, optout] of keys) {
    const present = key in input;
    // A name the prototype answers to (`constructor`) is zod's business.
    if (present && !hasOwn.call(input, key)) throw ASK_ZOD;
    if (!present && optout === 'optional' && optin === 'optional') continue;
    if (!present && optin === null) throw ASK_ZOD;
    const value = walk(plan, id, input[key]);
    if (value !== undefined) out[key] = value;
    else if (present || (optin === 'defaulted' && optout !== 'optional')) out[key] = undefined;
  }
  if (strict) {
    const known = new Set(keys.map((k) => k[0]));
    for (const key in input) if (!known.has(key)) throw ASK_ZOD;
  }
  return out;
}

/**
 * What the plan's schema would make of `value`, when the plan is sure it accepts it: `{ value }`
 * (zod's output: unknown keys stripped, defaults filled in), else undefined: ask the zod schema.
 * @example const fast = parseByPlan(plan, JSON.parse(text)); const out = fast ? fast.value : Schema.parse(...)
 */
export function parseByPlan(plan: Plan, value: unknown): { value: unknown } | undefined {
  try {
    return { value: walk(plan, 0, value) };
  } catch (err) {
    if (err === ASK_ZOD) return undefined;
    // A stack overflow on a deeply nested hostile value, or anything unexpected: zod decides.
    return undefined;
  }
}
