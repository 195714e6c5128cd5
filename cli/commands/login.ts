import { gatewayOrigin } from '../client/gateways.js';
import { hostname } from 'node:os';
import { Command, Option } from 'clipanion';
import { LoginResponse, LogoutResponse } from '../../protocol/accounts.js';
import { parseFingerprint } from '../../protocol/fingerprint.js';
import { ApiClient } from '../client/api.js';
import { saveConfig, sameGateway, tryLoadConfig } from '../config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { isInteractive, prompt, readFirstLine } from '../prompt.js';
import { BaseCommand } from './base.js';

export class LoginCommand extends BaseCommand {
  static override paths = [['login']];
  static override usage = Command.Usage({
    category: 'Accounts',
    description: 'Sign in to a gateway and save an API token for every other ccg command',
    details: `
      Asks for your username, password and, if your account has two-factor login, the current
      code. The gateway answers with a new API token bound to your user: it acts with your role
      (as it is at the time of each request) and dies with your account. The token, the gateway
      URL and its certificate pin are saved in $XDG_CONFIG_HOME/ccg/config.json (default
      ~/.config/ccg/config.json, mode 0600). Every other command uses them unless the
      flags --gateway, --token, --fingerprint or CCG_GATEWAY, CCG_TOKEN, CCG_FINGERPRINT
      say otherwise.

      Without a terminal (scripts, CI), give --username, the password on stdin
      with --password-stdin (or in CCG_PASSWORD) and --totp CODE when needed.

      A self-signed gateway needs --fingerprint (printed by \`ccg serve\`); it is saved too.
      Logging in again replaces (and revokes) the previously saved token. \`ccg logout\` revokes it.
    `,
    examples: [
      ['Sign in interactively', 'ccg login --gateway https://gw.example:3100 --fingerprint sha256:…'],
      ['In a script', 'printf %s "$PASSWORD" | ccg login --gateway https://gw:3100 --username ci-bot --password-stdin'],
    ],
  });

  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL, e.g. https://127.0.0.1:3100 (env CCG_GATEWAY; default: the saved one)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex> (env CCG_FINGERPRINT)' });
  username = Option.String('--username,-u', { env: 'CCG_USERNAME', description: 'Username (env CCG_USERNAME; asked when missing)' });
  passwordStdin = Option.Boolean('--password-stdin', false, { description: 'Read the password from the first line of stdin' });
  totp = Option.String('--totp', { env: 'CCG_TOTP', description: 'Two-factor code (or a recovery code), when the account needs one (env CCG_TOTP)' });
  name = Option.String('--name', { description: 'A label for the token, shown on the Settings page (default: "ccg login on <host>")' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const { stdin, stdout } = this.context;
    const previous = tryLoadConfig(env);
    const gatewayText = this.gateway ?? previous?.gateway;
    if (!gatewayText) throw new CliError('no gateway given: pass --gateway URL (or set CCG_GATEWAY)');
    const url = new URL(gatewayOrigin(gatewayText));
    const samePrevious = previous && sameGateway(previous.gateway, url.origin) ? previous : undefined;
    let fingerprint: string | undefined;
    const pin = this.fingerprint ?? samePrevious?.fingerprint ?? undefined;
    if (pin) {
      try {
        fingerprint = parseFingerprint(pin);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
    }

    const username = this.username ?? (await prompt(stdin, stdout, 'Username: '));
    let password: string;
    if (this.passwordStdin) password = await readFirstLine(stdin);
    else if (env['CCG_PASSWORD'] !== undefined) password = env['CCG_PASSWORD'];
    else password = await prompt(stdin, stdout, 'Password: ', { hidden: true });
    if (!username.trim() || !password) throw new CliError('a username and a password are needed', EXIT.AUTH, 'ERR_LOGIN_FAILED');

    const api = new ApiClient({ gateway: url.origin, token: '', fingerprint });
    const body = { username: username.trim(), password, name: this.name ?? `ccg login on ${hostname()}`.slice(0, 80) };
    let out: LoginResponse;
    try {
      out = await api.json('POST', '/api/v1/login', LoginResponse, this.totp ? { ...body, totp: this.totp } : body);
    } catch (err) {
      if (!(err instanceof CliError) || err.code !== 'ERR_TOTP_REQUIRED' || this.totp) throw err;
      if (!isInteractive(stdin)) throw new CliError('this account needs a two-factor code: pass --totp CODE (or set CCG_TOTP)', EXIT.AUTH, 'ERR_TOTP_REQUIRED');
      const code = await prompt(stdin, stdout, 'Two-factor code: ');
      out = await api.json('POST', '/api/v1/login', LoginResponse, { ...body, totp: code.trim() });
    }

    const file = saveConfig(env, { gateway: url.origin, fingerprint: fingerprint ?? null, token: out.token, user: out.user, savedAt: new Date().toISOString() });
    // The token this login replaces is no longer needed anywhere: revoke it (best effort).
    if (samePrevious && samePrevious.token !== out.token) {
      await new ApiClient({ gateway: url.origin, token: samePrevious.token, fingerprint }).json('POST', '/api/v1/logout', LogoutResponse).catch(() => undefined);
    }
    this.print({ gateway: url.origin, user: out.user, configFile: file }, () => `signed in to ${url.origin} as ${out.user.name} (${out.user.role}); token saved in ${file}\n`);
    return 0;
  }
}
