import type { z } from 'zod';
import type { Plan, PlanCheck, PlanKey, PlanNode } from './plan-parse.js';

/**
 * A zod schema as a plan for protocol/plan-parse.ts: the same types and checks, as plain data
 * that survives JSON (scripts/bundle-cli.mjs writes the plans into the CLI bundle, so the CLI
 * can check those answers without loading zod). Whatever this does not recognise exactly (a
 * transform, a refinement it has no name for, a format like url) becomes a `zod` node, where
 * parseByPlan gives up and the schema itself decides.
 */

/**
 * A refinement a plan can follow, named in the refinement's params (zod passes them into the
 * issue too): `.refine(fn, { message, params: planCheck(['jsonMax', 1024]) })`. The name is a
 * promise that `fn` is exactly that check; test/protocol/schema-plan.test.ts holds it to it.
 */
export function planCheck(c: PlanCheck): { planCheck: PlanCheck } {
  return { planCheck: c };
}

interface Internals {
  def: Record<string, unknown> & { type: string; checks?: { _zod: { def: Record<string, unknown> } }[] };
  traits: Set<string>;
  optin?: 'optional' | 'defaulted';
  optout?: 'optional';
  values?: Set<unknown>;
}

const internals = (s: unknown): Internals => (s as { _zod: Internals })._zod;

/** The core traits each supported type has, exactly: a subclass (discriminated union, exact optional) has more. */
const TRAITS: Record<string, string> = {
  string: '$ZodString,$ZodType',
  number: '$ZodNumber,$ZodType',
  boolean: '$ZodBoolean,$ZodType',
  null: '$ZodNull,$ZodType',
  enum: '$ZodEnum,$ZodType',
  literal: '$ZodLiteral,$ZodType',
  array: '$ZodArray,$ZodType',
  object: '$ZodObject,$ZodObjectJIT,$ZodType',
  optional: '$ZodOptional,$ZodType',
  nullable: '$ZodNullable,$ZodType',
  default: '$ZodDefault,$ZodType',
  lazy: '$ZodLazy,$ZodType',
  union: '$ZodType,$ZodUnion',
  record: '$ZodRecord,$ZodType',
};

class Unsupported extends Error {}

function planChecks(zi: Internals): PlanCheck[] | undefined {
  const out: PlanCheck[] = [];
  for (const c of zi.def.checks ?? []) {
    const d = c._zod.def;
    const kind = `${String(d['check'])}${d['format'] ? `:${String(d['format'])}` : ''}`;
    if (kind === 'min_length') out.push(['minLen', d['minimum'] as number]);
    else if (kind === 'max_length') out.push(['maxLen', d['maximum'] as number]);
    else if (kind === 'length_equals') out.push(['len', d['length'] as number]);
    else if (kind === 'greater_than') out.push(['gt', d['value'] as number, d['inclusive'] === true]);
    else if (kind === 'less_than') out.push(['lt', d['value'] as number, d['inclusive'] === true]);
    else if (kind === 'number_format:safeint') out.push(['safeint']);
    else if (kind === 'string_format:regex') {
      const re = d['pattern'] as RegExp;
      if (re.global || re.sticky) throw new Unsupported('a stateful regex');
      out.push(['re', re.source, re.flags]);
    } else if (kind === 'string_format:url' && !('normalize' in d) && !('hostname' in d) && !('protocol' in d)) {
      out.push(['url']);
    } else if (kind === 'custom' && d['type'] === 'custom') {
      const named = (d['params'] as { planCheck?: PlanCheck } | undefined)?.planCheck;
      if (!named) throw new Unsupported('an unnamed refinement');
      out.push(named);
    } else throw new Unsupported(`the check ${kind}`);
    for (const v of out.at(-1)!) if (typeof v === 'number' && !Number.isFinite(v)) throw new Unsupported('a non-finite bound');
  }
  return out.length ? out : undefined;
}

/**
 * The plan of a zod schema (see the file's comment). `unsure` hears why each `zod` node is one
 * (tests list them).
 */
export function planOf(schema: z.ZodType, unsure?: (why: string) => void): Plan {
  const nodes: PlanNode[] = [];
  const ids = new Map<unknown, number>();

  const add = (s: unknown): number => {
    const known = ids.get(s);
    if (known !== undefined) return known;
    const id = nodes.length;
    ids.set(s, id);
    nodes.push({ t: 'zod' });
    try {
      nodes[id] = build(internals(s));
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      unsure?.(err.message);
      nodes[id] = { t: 'zod' };
    }
    return id;
  };

  const build = (zi: Internals): PlanNode => {
    const d = zi.def;
    const traits = [...zi.traits].filter((t) => t.startsWith('$')).sort().join(',');
    if (TRAITS[d.type] !== traits) throw new Unsupported(`a ${d.type} (${traits})`);
    if (d['coerce']) throw new Unsupported('coercion');
    const c = planChecks(zi);
    const withChecks = <N extends PlanNode>(n: N): N => (c ? { ...n, c } : n);
    switch (d.type) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'null':
        return withChecks({ t: d.type });
      case 'enum':
      case 'literal': {
        const v = [...(zi.values ?? [])];
        if (!v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))) throw new Unsupported('a non-JSON literal');
        return withChecks({ t: 'values', v: v as (string | number | boolean | null)[] });
      }
      case 'array':
        return withChecks({ t: 'array', of: add(d['element']) });
      case 'object': {
        const catchall = d['catchall'] as unknown;
        const strict = catchall !== undefined && internals(catchall).def.type === 'never';
        if (catchall !== undefined && !strict) throw new Unsupported('a loose object');
        const shape = d['shape'] as Record<string, unknown>;
        if (Object.getOwnPropertySymbols(shape).length || Object.prototype.hasOwnProperty.call(shape, '__proto__')) throw new Unsupported('odd keys');
        const keys: PlanKey[] = Object.keys(shape).map((k) => {
          const f = internals(shape[k]);
          return [k, add(shape[k]), f.optin ?? null, f.optout ?? null];
        });
        return withChecks({ t: 'object', keys, strict });
      }
      case 'optional':
        if (internals(d['innerType']).optin === 'defaulted') throw new Unsupported('an optional default');
        return withChecks({ t: 'optional', of: add(d['innerType']) });
      case 'nullable':
        return withChecks({ t: 'nullable', of: add(d['innerType']) });
      case 'default': {
        const value = JSON.stringify(d['defaultValue']);
        if (value === undefined || JSON.stringify(JSON.parse(value)) !== value) throw new Unsupported('a non-JSON default');
        return withChecks({ t: 'default', of: add(d['innerType']), value });
      }
      case 'lazy':
        return withChecks({ t: 'lazy', of: add((d['getter'] as () => unknown)()) });
      case 'union':
        return withChecks({ t: 'union', of: (d['options'] as unknown[]).map(add) });
      case 'record': {
        const key = internals(d['keyType']);
        if (key.def.type !== 'string' || key.values || d['mode'] === 'loose' || d['partial']) throw new Unsupported('a record with enumerated keys');
        return withChecks({ t: 'record', key: add(d['keyType']), value: add(d['valueType']) });
      }
      default:
        throw new Unsupported(d.type);
    }
  };

  add(schema);
  return { nodes };
}
