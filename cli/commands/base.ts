import { gatewayOrigin } from '../client/gateways.js';
import { Command, Option } from 'clipanion';
import { parseFingerprint } from '../../protocol/fingerprint.js';
import { API_TOKEN_RE } from '../../protocol/ids.js';
import { sanitizeTerminal } from '../../protocol/one-line.js';
import { ApiClient, type GatewayTarget } from '../client/api.js';
import type { SavedConfig } from '../config-schema.js';
import { brokenOff, CliError, EXIT } from '../exit-codes.js';
import { jsonLine } from '../format.js';
import { loadSavedConfig, sameGateway } from '../saved-config.js';

/** Every ccg command: `--json`, and one way of reporting errors (one line, or JSON on stderr). */
export abstract class BaseCommand extends Command {
  json = Option.Boolean('--json', false, { description: 'Machine-readable output: one JSON document, or JSON lines for streams' });

  protected abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (err) {
      return this.report(err);
    }
  }

  protected report(err: unknown): number {
    const e = err instanceof CliError ? err : (brokenOff(err) ?? new CliError(err instanceof Error ? err.message : String(err), EXIT.ERROR, 'ERR_CLI'));
    // Messages often quote a gateway's words: never let them drive the terminal.
    const message = terminalLine(e.message);
    if (this.json) this.context.stderr.write(jsonLine({ error: { code: terminalLine(e.code), message, exit: e.exit } }));
    else this.context.stderr.write(`ccg: ${message}\n`);
    return e.exit;
  }

  protected print(value: unknown, human: () => string): void {
    this.context.stdout.write(this.json ? jsonLine(value) : human());
  }
}

/** Commands that talk to a gateway as an operator. */
export abstract class GatewayCommand extends BaseCommand {
  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL, e.g. https://127.0.0.1:3100 (env CCG_GATEWAY; default: the one `ccg login` saved)' });
  token = Option.String('--token', { env: 'CCG_TOKEN', description: 'Operator API token, ccgo_… (env CCG_TOKEN; `cat .data/operator.token` on the gateway host; default: the one `ccg login` saved)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex> (env CCG_FINGERPRINT; default: the one `ccg login` saved)' });

  /** The saved login, read before run() when a flag or variable is missing; an error is thrown where target() needs it. */
  private saved: { config: SavedConfig | undefined } | { error: unknown } | undefined;

  override async execute(): Promise<number> {
    if (!this.gateway || !this.token || !this.fingerprint) {
      // Read here, where waiting is possible, so that zod loads only for an unusual file (cli/saved-config.ts).
      this.saved = await loadSavedConfig(this.context.env).then(
        (config) => ({ config }),
        (error: unknown) => ({ error }),
      );
    }
    return super.execute();
  }

  /**
   * Where and as whom to connect: flags, then CCG_* variables, then what `ccg login` saved. The
   * saved token and pin are used only for the saved gateway, never sent to another one.
   */
  protected target(): GatewayTarget {
    let gateway = this.gateway;
    let token = this.token;
    let pin = this.fingerprint;
    /** A saved login for another gateway than the one given (it is never sent there). */
    let otherLogin: string | undefined;
    if (!gateway || !token) {
      if (!this.saved) throw new Error('GatewayCommand.target() before execute()');
      if ('error' in this.saved) throw this.saved.error;
      const saved = this.saved.config;
      if (saved && (!gateway || sameGateway(gateway, saved.gateway))) {
        gateway ??= saved.gateway;
        token ??= saved.token;
        pin ??= saved.fingerprint ?? undefined;
      } else if (saved) otherLogin = saved.gateway;
    }
    if (!gateway) throw new CliError('no gateway given: pass --gateway URL, set CCG_GATEWAY, or run `ccg login`');
    // The saved login's gateway, given with another token: its pin (public, the certificate's) still holds.
    if (!pin && this.saved && 'config' in this.saved && this.saved.config && sameGateway(gateway, this.saved.config.gateway)) pin = this.saved.config.fingerprint ?? undefined;
    // A list of nodes is for runners and machine daemons; an operator command talks to one.
    if (gateway.includes(',')) {
      throw new CliError('this command takes one gateway URL; a comma-separated list of cluster nodes is for `ccg runner start` and `ccg machine start`: give one node\'s URL or the load balancer\'s');
    }
    const origin = gatewayOrigin(gateway);
    if (!token && otherLogin) {
      throw new CliError(`no API token for ${origin}: the saved login (\`ccg login\`) is for ${otherLogin}, and is only ever sent there. Use that URL, pass --token or set CCG_TOKEN, or run \`ccg login --gateway ${origin}\``, EXIT.AUTH, 'ERR_UNAUTHORIZED');
    }
    if (!token) throw new CliError('no API token given: pass --token, set CCG_TOKEN, or run `ccg login`', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    if (!API_TOKEN_RE.test(token.trim())) throw new CliError('the API token is malformed (expected ccgo_ followed by 43 characters)', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    let fingerprint: string | undefined;
    if (pin) {
      try {
        fingerprint = parseFingerprint(pin);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
    }
    return { gateway: origin, token: token.trim(), fingerprint };
  }

  protected api(): ApiClient {
    return new ApiClient(this.target());
  }
}

export { parseDuration, parseWait } from '../durations.js';

/** A whole number between `min` and `max` given as `flag` (`--limit 0`, `--limit abc` were the gateway's schema messages). */
export function countOption(value: string, flag: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not "${value.slice(0, 20)}"`);
  return n;
}

/**
 * Text for one line of a terminal, from anything (a gateway's error message, an operator's name):
 * every escape sequence and control character removed (sanitizeTerminal), line breaks made spaces.
 */
export function terminalLine(text: string): string {
  return sanitizeTerminal(text.replace(/\s*[\r\n]+\s*/g, ' '));
}
