import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OutputPipeline, runRedaction } from '../../cli/runner/output-pipeline.js';
import { Spool } from '../../cli/runner/spool.js';
import type { Approval } from '../../protocol/claude-control.js';
import { EventChunkRedactor } from '../../protocol/event-redaction.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { encodeEvent, parseEvents, type RunnerEvent } from '../../protocol/runner-events.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const TOKEN = 'ccgr_' + 'x'.repeat(43);
/** A command that only mentions a key header: no END line will ever follow it. */
const GREP = "grep -rn 'BEGIN OPENSSH' . # matches: -----BEGIN OPENSSH PRIVATE KEY-----";
const KEY_BODY = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW';

function approval(id: string, command: string): RunnerEvent {
  return { type: 'approval_requested', ...approvalInfo(id, { input: { command, description: 'look for keys' } }) } as RunnerEvent;
}

/** The event chunks an OutputPipeline spools for these events, as the runner would send them. */
function runnerChunks(evs: RunnerEvent[]): Buffer[] {
  const dir = join(tempDir(), 'spool');
  const spool = Spool.open(dir);
  try {
    const p = new OutputPipeline({ spool, redaction: runRedaction(TOKEN, {}), tap() {}, spooled() {} });
    for (const ev of evs) p.event(ev);
    p.drain();
    const out: Buffer[] = [];
    for (let seq = spool.minSeq; seq <= spool.maxSeq; seq++) {
      const c = spool.read(seq)!;
      assert.equal(c.stream, STREAM_EVENT);
      out.push(Buffer.from(c.data));
    }
    return out;
  } finally {
    spool.close(false);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('runner: an unterminated private key header in an approval is redacted inside its string; the approval and every later event still parse', () => {
  const evs = [approval('appr_pem0000000000001', GREP), approval('appr_pem0000000000002', `cat <<EOF\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n${KEY_BODY}`), approval('appr_pem0000000000003', 'npm test')];
  const data = Buffer.concat(runnerChunks(evs));
  const parsed = parseEvents(data);
  assert.deepEqual(parsed.map((e) => (e as unknown as { approvalId: string }).approvalId), ['appr_pem0000000000001', 'appr_pem0000000000002', 'appr_pem0000000000003'], 'no event is lost');
  const input = (e: RunnerEvent | undefined) => (e as unknown as { input: { command: string; description: string } }).input;
  const cmds = parsed.map((e) => input(e).command);
  assert.equal(cmds[0], "grep -rn 'BEGIN OPENSSH' . # matches: [REDACTED:private-key]");
  assert.equal(cmds[1], 'cat <<EOF\n[REDACTED:private-key]');
  assert.equal(cmds[2], 'npm test');
  assert.ok(!data.toString('latin1').includes(KEY_BODY.slice(0, 16)), 'no byte of the key body leaves');
  // The description beside the command is untouched: the redaction stopped at its string's end.
  assert.equal(input(parsed[0]).description, 'look for keys');
});

test('gateway pass: event lines are redacted string by string; a JSON escape does not hide a secret; a line split across chunks is still redacted and the pass resets at its end', () => {
  const r = new EventChunkRedactor(runRedaction(TOKEN, {}));
  const raw = Buffer.concat([encodeEvent(approval('appr_gw00000000000001', GREP)), encodeEvent(approval('appr_gw00000000000002', 'ok'))]);
  const out = r.apply(raw);
  assert.deepEqual(parseEvents(out).map((e) => (e as unknown as { approvalId: string }).approvalId), ['appr_gw00000000000001', 'appr_gw00000000000002']);
  // `sk\u002dant-` decodes to a key the text rules would not see.
  const escaped = Buffer.from(encodeEvent(approval('appr_gw00000000000003', 'sk-ant-api03-' + 'k'.repeat(30))).toString().replace('sk-ant', 'sk\\u002dant'));
  const out2 = r.apply(escaped).toString();
  assert.ok(!out2.includes('kkkkkkkkkk') && out2.includes('[REDACTED:anthropic]'), out2);
  // A non-JSON line from a hostile runner, split inside a token: redacted, and the next line is read afresh.
  const a = r.apply(Buffer.from('junk ghp_0123456789abcdefghij'));
  const b = r.apply(Buffer.from('klmnopqrstuvwxyz0123 more\n' + encodeEvent(approval('appr_gw00000000000004', 'ok')).toString()));
  const joined = Buffer.concat([a, b]).toString();
  assert.ok(!joined.includes('0123456789') && !joined.includes('klmnop'), joined);
  assert.deepEqual(parseEvents(b).map((e) => (e as unknown as { approvalId: string }).approvalId), ['appr_gw00000000000004']);
  // Nothing to redact: the same bytes.
  const plain = encodeEvent(approval('appr_gw00000000000005', 'ls'));
  assert.deepEqual(r.apply(plain), plain);
});

test('hostile runner that does not redact: an approval with an unterminated key header reaches the operator redacted, and later events of the run are not dropped', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await apiRequest(g, 'POST', '/api/v1/runs', { name: 'keys' });
  const runner = await fakeRunner(g, created.json.run.id, created.json.token);
  t.after(() => runner.close());
  const runId = created.json.run.id as string;
  // Raw, unredacted, as a runner that skips its own pass would send it.
  await runner.events(approval('appr_host000000000001', GREP));
  await runner.events(approval('appr_host000000000002', 'npm test'));
  // And what a real runner's pipeline produces for the same kind of request.
  for (const chunk of runnerChunks([approval('appr_host000000000003', `echo -----BEGIN RSA PRIVATE KEY-----\n${KEY_BODY}`)])) await runner.output(STREAM_EVENT, chunk);
  const listed = await waitFor(async () => {
    const res = await apiRequest(g, 'GET', `/api/v1/runs/${runId}/approvals`);
    return res.json.approvals.length === 3 ? (res.json.approvals as Approval[]) : undefined;
  }, 10_000, 'three approvals');
  const byId = new Map(listed.map((a) => [a.approvalId, a]));
  assert.equal((byId.get('appr_host000000000001')!.input as { command: string }).command, "grep -rn 'BEGIN OPENSSH' . # matches: [REDACTED:private-key]");
  assert.equal((byId.get('appr_host000000000002')!.input as { command: string }).command, 'npm test');
  assert.equal((byId.get('appr_host000000000003')!.input as { command: string }).command, 'echo [REDACTED:private-key]');
  const stored = (await g.gw.store.readChunks(runId, 1, { limit: 100, maxBytes: 1 << 20 })).map((c) => Buffer.from(c.data).toString('latin1')).join('');
  assert.ok(!stored.includes('-----BEGIN OPENSSH') && !stored.includes(KEY_BODY.slice(0, 16)), 'the store holds no key');
});
