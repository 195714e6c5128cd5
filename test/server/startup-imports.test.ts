import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * What `ccg serve` loads at start: the static imports of tsc's output, followed from the entry
 * bin/ccg uses and the serve command the command table loads from it (other dynamic `import()`s,
 * which load on first use, are not followed). The NATS client
 * and the JetStream store were reached this way from server/gateway.ts: about 200 ms and 25 MB of
 * every gateway's start, clustered or not (`npm run bench -- --only serve,memory`).
 */
const DIST = fileURLToPath(new URL('../../', import.meta.url));
const STATIC_IMPORT = /^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)';?$|^import\s+'([^']+)';?$/gm;

function staticGraph(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

test('ccg serve does not load the NATS client or the JetStream store unless it is a cluster node', () => {
  const entries = [join(DIST, 'cli/serve-main.js'), join(DIST, 'cli/commands/serve.js')];
  for (const entry of entries) assert.ok(existsSync(entry), entry);
  const { files, packages } = staticGraph(entries);
  // The walk sees the gateway: its native parts and its own files.
  for (const p of ['uWebSockets.js', 'lmdb']) assert.ok(packages.has(p), `${p} among ${[...packages].join(', ')}`);
  assert.ok(files.has(join(DIST, 'server/gateway.js')));
  assert.ok(files.has(join(DIST, 'server/core/runs.js')));
  // What only a cluster node needs loads with `import()` when --nats is given.
  for (const p of packages) assert.ok(!p.startsWith('@nats-io/') && p !== 'nats', `ccg serve loads ${p} at start`);
  for (const f of files) assert.ok(!f.includes('/store/jetstream/') && !f.endsWith('/cluster-node.js'), `ccg serve loads ${f} at start`);
});
