import { STREAM_EVENT } from '../../../protocol/frames.js';
import { itemsOfChunk } from '../../../protocol/timeline.js';
import { useEffect, useState } from 'react';
import type { ArtifactInfo } from '../../../protocol/artifacts.js';
import type { AssistInfo } from '../../../protocol/assist.js';
import type { Approval } from '../../../protocol/claude-control.js';
import type { OperatorClient } from '../../client/operator-client.js';

/**
 * What the gateway tells subscribers of a run besides its output: its approvals, artifacts and
 * assist session. The subscription itself is the output hook's; these arrive on it (after every
 * (re)subscribe the gateway sends the open approvals, the artifact list and the assist state).
 */
export interface RunLive {
  runId: string | null;
  /** Every approval seen for the run, oldest first: open ones and the recently resolved. */
  approvals: readonly Approval[];
  /** The open ones nobody has answered yet. */
  pending: readonly Approval[];
  /** The artifact list (null: none reported yet). */
  artifacts: readonly ArtifactInfo[] | null;
  /** The assist session (operators and admins only; null for viewers and when none was started). */
  assist: AssistInfo | null;
  /** Claude's mode and model as its events last said (null: not seen since the run was opened here). */
  settings?: { permissionMode: string | null; model: string | null } | null;
  /** Counts the mode/model changes seen, so a screen can read the session again. */
  settingsVersion?: number;
}

/** Resolved approvals kept for display after they close. */
const KEEP_RESOLVED = 20;

export function useRunLive(client: OperatorClient, runId: string | null): RunLive {
  const [approvals, setApprovals] = useState<Approval[]>([]);
  const [artifacts, setArtifacts] = useState<ArtifactInfo[] | null>(null);
  const [assist, setAssist] = useState<AssistInfo | null>(null);
  const [settings, setSettings] = useState<{ permissionMode: string | null; model: string | null; version: number } | null>(null);

  useEffect(() => {
    setApprovals([]);
    setArtifacts(null);
    setAssist(null);
    setSettings(null);
    if (!runId) return;
    const order = (list: Approval[]) => {
      const resolved = list.filter((a) => a.state === 'resolved');
      const drop = new Set(resolved.slice(0, Math.max(0, resolved.length - KEEP_RESOLVED)));
      return list.filter((a) => !drop.has(a)).sort((a, b) => a.requestedAt - b.requestedAt);
    };
    const onApprovals = (m: { runId: string; approvals: Approval[] }) => {
      if (m.runId !== runId) return;
      // The full open list: anything else we still thought open was closed while we were away.
      const open = new Set(m.approvals.map((a) => a.approvalId));
      setApprovals((prev) => order([...prev.filter((a) => !open.has(a.approvalId) && a.state === 'resolved'), ...m.approvals]));
    };
    const onApproval = (m: { runId: string; approval: Approval }) => {
      if (m.runId !== runId) return;
      setApprovals((prev) => order([...prev.filter((a) => a.approvalId !== m.approval.approvalId), m.approval]));
    };
    const onArtifacts = (m: { runId: string; artifacts: ArtifactInfo[] }) => {
      if (m.runId === runId) setArtifacts(m.artifacts);
    };
    const onAssist = (m: { runId: string; assist: AssistInfo }) => {
      if (m.runId === runId) setAssist(m.assist);
    };
    const onChunk = (c: { runId: string; stream: number; seq: number; time: number; data: Uint8Array }) => {
      if (c.runId !== runId || c.stream !== STREAM_EVENT) return;
      for (const { event: ev } of itemsOfChunk(c)) {
        if (ev.type !== 'claude_settings' && ev.type !== 'claude_init') continue;
        setSettings((prev) => ({
          permissionMode: ev.permissionMode ?? prev?.permissionMode ?? null,
          model: ev.model ?? prev?.model ?? null,
          version: (prev?.version ?? 0) + 1,
        }));
      }
    };
    client.on('chunk', onChunk);
    client.on('approvals', onApprovals);
    client.on('approval', onApproval);
    client.on('artifacts', onArtifacts);
    client.on('assist', onAssist);
    return () => {
      client.off('chunk', onChunk);
      client.off('approvals', onApprovals);
      client.off('approval', onApproval);
      client.off('artifacts', onArtifacts);
      client.off('assist', onAssist);
    };
  }, [client, runId]);

  return {
    runId, approvals, pending: approvals.filter((a) => a.state === 'pending'), artifacts, assist,
    settings: settings ? { permissionMode: settings.permissionMode, model: settings.model } : null, settingsVersion: settings?.version ?? 0,
  };
}
