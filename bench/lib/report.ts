import { num } from './stats.js';

/** One line of the bench table and of the JSON report. */
export interface Figure {
  id: string;
  name: string;
  value: number;
  unit: string;
  /** Measured in the same run. */
  reference: { label: string; value: number; unit: string } | null;
  /** value / reference.value, when both are in the same unit. */
  ratio: number | null;
  /** From MISSION.md; null when it sets none. */
  target: { text: string; met: boolean } | null;
  detail?: Record<string, number | string>;
}

export function figure(f: Omit<Figure, 'ratio'> & { ratio?: number | null }): Figure {
  const ratio = f.ratio !== undefined ? f.ratio : f.reference && f.reference.unit === f.unit && f.reference.value > 0 ? f.value / f.reference.value : null;
  return { ...f, ratio };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The plain-text table printed at the end of a run. */
export function table(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    `${num(f.value)} ${f.unit}`,
    f.reference ? `${num(f.reference.value)} ${f.reference.unit}  (${f.reference.label})` : '—',
    f.ratio === null ? '' : `${num(f.ratio, 2)}×`,
    f.target ? f.target.text : '—',
    f.target ? (f.target.met ? 'met' : 'MISSED') : '',
  ]);
  const head = ['figure', 'ccg', 'reference, same run', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => pad(c, widths[i]!, i === 1 || i === 3)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
