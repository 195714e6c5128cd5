import { Command, Option } from 'clipanion';
import { LogoutResponse } from '../../protocol/accounts.js';
import { ApiClient } from '../client/api.js';
import { gatewayOrigin } from '../client/gateways.js';
import { configPath, removeConfig, tryLoadConfig } from '../config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { BaseCommand } from './base.js';

export class LogoutCommand extends BaseCommand {
  static override paths = [['logout']];
  static override usage = Command.Usage({
    category: 'Accounts',
    description: 'Revoke the token `ccg login` saved, and forget it',
    details: `
      Revokes the saved API token on the gateway, then deletes the saved login
      ($XDG_CONFIG_HOME/ccg/config.json). If the gateway cannot be reached the file is kept,
      unless --force is given (the token then stays valid until revoked on the Settings page).
    `,
    examples: [['Sign out', 'ccg logout']],
  });

  force = Option.Boolean('--force', false, { description: 'Forget the saved login even when the gateway cannot be reached' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const saved = tryLoadConfig(env);
    if (!saved) throw new CliError(`not signed in (no ${configPath(env)})`, EXIT.NOT_FOUND, 'ERR_NOT_FOUND');
    let revoked = false;
    try {
      // A saved login is checked like a given URL: no token goes out in clear (an http:// login
      // saved before that was refused).
      await new ApiClient({ gateway: gatewayOrigin(saved.gateway), token: saved.token, fingerprint: saved.fingerprint ?? undefined }).json('POST', '/api/v1/logout', LogoutResponse);
      revoked = true;
    } catch (err) {
      // Already revoked (or the user is gone): the token is dead either way.
      if (err instanceof CliError && err.code === 'ERR_UNAUTHORIZED') revoked = true;
      else if (!this.force) throw err;
    }
    removeConfig(env);
    this.print({ gateway: saved.gateway, revoked }, () => `signed out of ${saved.gateway}${revoked ? '' : ' (the gateway could not be reached: revoke the token on its Settings page)'}\n`);
    return 0;
  }
}
