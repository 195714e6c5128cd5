import { CcgError } from '../../protocol/errors.js';
import { CommandPolicy, DEFAULT_POLICY, mayRun, sortRoles, type PolicyUpdate } from '../../protocol/policy.js';
import type { Logger } from '../log.js';
import type { AuthStore } from '../store/types.js';

/** Where the policy lives in the store's `meta` collection. */
export const POLICY_META_KEY = 'policy.commands';

/**
 * The gateway-side command policy (protocol/policy.ts), kept in the store and cached in memory.
 * The cache is the truth between a save and its commit (LMDB readers do not see a write before it
 * commits), so two saves in quick succession still see each other's version.
 */
export class PolicyService {
  private current: CommandPolicy;

  constructor(
    private readonly o: { store: AuthStore; log: Logger; now: () => number },
  ) {
    this.current = this.load();
  }

  private load(): CommandPolicy {
    const raw = this.o.store.getMeta<unknown>(POLICY_META_KEY);
    if (raw === undefined) return DEFAULT_POLICY;
    const parsed = CommandPolicy.safeParse(raw);
    if (parsed.success) return parsed.data;
    // A damaged record must not open anything up: fall back to the documented defaults, loudly.
    this.o.log.error('policy.invalid_stored', { reason: parsed.error.issues[0]?.message ?? 'invalid' });
    return DEFAULT_POLICY;
  }

  get(): CommandPolicy {
    return this.current;
  }

  mayRun(role: string, name: string): boolean {
    return mayRun(this.current, role, name);
  }

  /** Replaces the policy. Throws ERR_CONFLICT when `update.version` is given and stale. */
  async set(update: PolicyUpdate, by: string): Promise<CommandPolicy> {
    const before = this.current;
    if (update.version !== undefined && update.version !== before.version) {
      throw new CcgError('ERR_CONFLICT', `the policy is at version ${before.version}, not ${update.version}: reload it and apply your change again`);
    }
    const commands: CommandPolicy['commands'] = {};
    for (const name of Object.keys(update.commands).sort()) commands[name] = sortRoles(update.commands[name] ?? []);
    const next: CommandPolicy = {
      default: sortRoles(update.default),
      commands,
      version: before.version + 1,
      updatedAt: this.o.now(),
      updatedBy: by,
    };
    this.current = next;
    try {
      await this.o.store.putMeta(POLICY_META_KEY, next);
    } catch (err) {
      if (this.current === next) this.current = before;
      throw err;
    }
    return next;
  }
}
