import { Command, Option } from 'clipanion';
import { InputResponse } from '../../../protocol/claude-control.js';
import { MAX_INPUT } from '../../../protocol/claude-events.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsInputCommand extends GatewayCommand {
  static override paths = [['runs', 'input']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Send a follow-up prompt to Claude (or text to a --pty run)',
    details: `
      For a Claude run, TEXT becomes a new user turn. While Claude works it is queued and taken
      after the current turn; after Claude finished, the runner waits --input-wait (default 10m)
      for one. For a --pty run, TEXT is typed into the terminal as is (add --enter to press
      Enter). The runner must be connected (ERR_RUNNER_AWAY otherwise); use \`-\` to read TEXT
      from stdin. Prints the input id; \`ccg runs events\` shows it as input_sent.
    `,
    examples: [
      ['A follow-up', 'ccg runs input 7k2m9x4q3w8z "now add a test for it"'],
      ['From a file', 'ccg runs input 7k2m9x4q3w8z - < review-notes.md'],
      ['Answer a prompt in a --pty run', 'ccg runs input 7k2m9x4q3w8z y --enter'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  text = Option.String({ name: 'TEXT' });
  enter = Option.Boolean('--enter', false, { description: 'Append a carriage return (press Enter), for --pty runs' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    let text = this.text;
    if (text === '-') {
      const parts: Buffer[] = [];
      for await (const part of this.context.stdin) parts.push(part as Buffer);
      text = Buffer.concat(parts).toString('utf8');
    }
    if (this.enter) text += '\r';
    if (!text) throw new CliError('TEXT is empty');
    if (Buffer.byteLength(text) > MAX_INPUT) throw new CliError(`TEXT is larger than ${MAX_INPUT} bytes`);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/input`, InputResponse, { text });
    this.print(out, () => `sent to the runner (input ${out.inputId})\n`);
    return 0;
  }
}
