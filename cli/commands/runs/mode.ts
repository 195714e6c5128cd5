import { Command, Option } from 'clipanion';
import { ControlResponse, SessionResponse } from '../../../protocol/claude-control.js';
import { modeLabel, PERMISSION_MODES, PermissionMode } from '../../../protocol/claude-steer.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand, terminalLine } from '../base.js';
import { runIdArg } from './args.js';

/** "plan only (plan) · model claude-sonnet-5-5", for every command that shows a session. */
export function sessionLine(s: SessionResponse): string {
  return `mode: ${s.permissionMode ? `${modeLabel(s.permissionMode)} (${terminalLine(s.permissionMode)})` : 'not known yet'} · model: ${s.model ? terminalLine(s.model) : 'not known yet'}`;
}

export class RunsModeCommand extends GatewayCommand {
  static override paths = [['runs', 'mode']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Show or switch a Claude session's permission mode (default, acceptEdits, plan)",
    details: `
      Claude's permission mode says what it may do without asking:

      - \`default\`: ask before edits and commands (what rules allow runs)
      - \`acceptEdits\`: edit files without asking; still ask before commands
      - \`plan\`: only read and plan; no edits, no commands
      - \`bypassPermissions\`: ask for nothing (only where the runner was started with \`--allow-bypass-permissions\`)

      Without MODE it prints the session's mode and model. With MODE it switches now, for the
      rest of the session (the runner must be connected, and take remote approvals). The
      switch shows in the timeline, with who made it, once Claude confirms it.
    `,
    examples: [
      ['What mode is Claude in?', 'ccg runs mode 7k2m9x4q3w8z'],
      ['Allow all edits from now on', 'ccg runs mode 7k2m9x4q3w8z acceptEdits'],
      ['Back to asking first', 'ccg runs mode 7k2m9x4q3w8z default'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  mode = Option.String({ required: false, name: 'MODE' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (this.mode === undefined) {
      const s = await this.api().json('GET', `/api/v1/runs/${id}/session`, SessionResponse);
      this.print(s, () => `${sessionLine(s)}\n${s.modes.length ? `switch with: ccg runs mode ${id} ${s.modes.join('|')}` : 'this run takes no mode switch'}\n`);
      return 0;
    }
    const mode = PermissionMode.safeParse(this.mode);
    if (!mode.success) throw new CliError(`"${terminalLine(this.mode.slice(0, 40))}" is not a mode: ${PERMISSION_MODES.join(', ')}`);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/mode`, ControlResponse, { mode: mode.data });
    this.print(out, () => `asked Claude to switch to ${modeLabel(mode.data)} (${mode.data})\n`);
    return 0;
  }
}
