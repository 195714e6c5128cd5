// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [filter-substring...]
// With no filter (`npm test`): the whole suite, two files at a time, then the fault suite
// (dist/test/faults/) at its quick size (CCG_FAULT_SCALE=quick), one file at a time; the exit code
// is non-zero if either failed. A filter that names faults runs only those, at the size
// CCG_FAULT_SCALE says: `npm run test:faults` (full size), `npm run test:faults:quick`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const FAULTS = `dist${sep}test${sep}faults${sep}`;
const all = find('dist/test').sort();
if (all.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}

/** Runs test files with node's runner; fault tests start several gateways and runners each: one file at a time. */
function run(files, faults, env = process.env) {
  const args = ['--test', `--test-concurrency=${faults ? 1 : 2}`, `--test-timeout=${faults ? 900_000 : 300_000}`, '--test-force-exit', ...files];
  return spawnSync(process.execPath, args, { stdio: 'inherit', env }).status ?? 1;
}

if (filters.length > 0) {
  const wantFaults = filters.some((s) => s.includes('faults'));
  const files = all.filter((f) => (wantFaults || !f.startsWith(FAULTS)) && filters.some((s) => f.includes(s)));
  if (files.length === 0) {
    console.error(`no test file matches ${filters.join(', ')}`);
    process.exit(1);
  }
  process.exit(run(files, wantFaults));
}

const main = run(all.filter((f) => !f.startsWith(FAULTS)), false);
console.log('\n# the fault suite at its quick size (npm run test:faults for the full one)\n');
const faults = run(all.filter((f) => f.startsWith(FAULTS)), true, { ...process.env, CCG_FAULT_SCALE: process.env.CCG_FAULT_SCALE ?? 'quick' });
console.log(`\n# suite ${main === 0 ? 'passed' : 'FAILED'}; fault suite (quick) ${faults === 0 ? 'passed' : 'FAILED'}`);
process.exit(main || faults);
