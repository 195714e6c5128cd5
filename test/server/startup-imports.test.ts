import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * What `ccg serve` loads at start: the static imports of tsc's output, followed from the entry
 * bin/ccg uses and the serve command the command table loads from it (other dynamic `import()`s,
 * which load on first use, are not followed). The NATS client and the JetStream store were
 * reached this way from server/gateway.ts, at every gateway's start, clustered or not: 234 ms and
 * 27 MB when loaded alone; the gateway's modules loaded 62 ms faster and its RSS 2 s after start
 * was 8 MB lower without them (docs/BENCH.md, "Fixes the bench and the fault suite led to").
 */
const DIST = fileURLToPath(new URL('../../', import.meta.url));
/** `import … from '…'` (over several lines too), `export … from "…"`, `import '…'`: either quote. */
const STATIC_IMPORT = /^(?:import\s+[^;'"()]*?\sfrom|export\s*(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from)\s*(['"])([^'"]+)\1|^import\s*(['"])([^'"]+)\3/gm;
/** Any line that begins a static import or re-export: each must be one the pattern above reads. */
const IMPORT_LINE = /^(?:import\s+[\w{*]|import\s*['"]|export\s*(?:\*|\{[^}]*\}\s*from))/gm;

function staticGraph(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    const read = [...text.matchAll(STATIC_IMPORT)];
    assert.equal(read.length, [...text.matchAll(IMPORT_LINE)].length, `an import in ${file} the walk cannot read`);
    for (const m of read) {
      const spec = (m[2] ?? m[4])!;
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
