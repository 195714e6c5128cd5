import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const module = fileURLToPath(new URL('../../cli/crash-handlers.js', import.meta.url));
const logger = fileURLToPath(new URL('../../server/log.js', import.meta.url));

function run(body: string): { status: number | null; stderr: string } {
  const script = `
    const { installCrashHandlers } = await import(${JSON.stringify(module)});
    const { createLogger } = await import(${JSON.stringify(logger)});
    installCrashHandlers(createLogger({ write: (l) => process.stderr.write(l) }), (l) => process.stderr.write(l));
    ${body}
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

test('ccg serve: an unhandled rejection is logged and the gateway keeps running', () => {
  const r = run(`Promise.reject(new Error('a failed write')); setTimeout(() => { process.stderr.write('still serving\\n'); process.exit(0); }, 200);`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /process\.unhandled_rejection.*a failed write/);
  assert.match(r.stderr, /still serving/);
});

test('ccg serve: an uncaught exception is logged, then the process exits 1 (a supervisor restarts it)', () => {
  const r = run(`setTimeout(() => { throw new RangeError('Maximum call stack size exceeded'); }, 10); setTimeout(() => process.exit(0), 5000);`);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /process\.uncaught_exception.*Maximum call stack/);
  assert.match(r.stderr, /exiting so a supervisor can restart the gateway/);
});
