import { CliError } from './exit-codes.js';

/** Parses a size like 8M, 512K, 2G, 8MiB or 1048576 (bytes) into bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new CliError(`${flag} "${text}" is not a size (examples: 512K, 8M, 1G)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const n = Math.round(Number(m[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]!);
  if (n < 1) throw new CliError(`${flag} must be at least 1 byte`);
  return n;
}
