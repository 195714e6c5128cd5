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

/** A whole number between `min` and `max` given as `flag` (`--limit 0`, `--limit abc` were the gateway's schema messages). */
export function countOption(value: string, flag: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not "${value.slice(0, 20)}"`);
  return n;
}
