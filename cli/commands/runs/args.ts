import { RUN_ID_RE } from '../../../protocol/ids.js';
import { CliError, EXIT } from '../../exit-codes.js';

/** Validates a RUN_ID argument before it goes into a URL. */
export function runIdArg(id: string): string {
  const trimmed = id.trim().toLowerCase();
  if (!RUN_ID_RE.test(trimmed)) throw new CliError(`"${id.slice(0, 40)}" is not a run id (12 characters, like 7k2m9x4q3w8z)`, EXIT.NOT_FOUND, 'ERR_RUN_NOT_FOUND');
  return trimmed;
}

/** The --from option of `runs logs` and `runs events`: a chunk seq, 1 when not given. */
export function fromOption(value: string | undefined): number {
  if (value === undefined) return 1;
  if (!/^[1-9]\d{0,15}$/.test(value)) throw new CliError('--from must be a positive integer');
  return Number(value);
}
