// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [filter-substring...]
// The fault suite (dist/test/faults/) is long and runs only when asked for by a filter that
// names it: `npm run test:faults` (full size) or `npm run test:faults:quick` (CCG_FAULT_SCALE=quick).
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
const wantFaults = filters.some((s) => s.includes('faults'));
const files = find('dist/test')
  .filter((f) => wantFaults || !f.startsWith(FAULTS))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// Fault tests start several gateways and runners each: one file at a time.
const concurrency = wantFaults ? 1 : 2;
const timeout = wantFaults ? 900_000 : 300_000;
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeout}`, '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
