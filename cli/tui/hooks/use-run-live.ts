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
}

/** Resolved approvals kept for display after they close. */
const KEEP_RESOLVED = 20;

export function useRunLive(client: OperatorClient, runId: string | null): RunLive {
  const [approvals, setApprovals] = useState<Approval[]>([]);
  const [artifacts, setArtifacts] = useState<ArtifactInfo[] | null>(null);
  const [assist, setAssist] = useState<AssistInfo | null>(null);

  useEffect(() => {
    setApprovals([]);
    setArtifacts(null);
    setAssist(null);
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
    client.on('approvals', onApprovals);
    client.on('approval', onApproval);
    client.on('artifacts', onArtifacts);
    client.on('assist', onAssist);
    return () => {
      client.off('approvals', onApprovals);
      client.off('approval', onApproval);
      client.off('artifacts', onArtifacts);
      client.off('assist', onAssist);
    };
  }, [client, runId]);

  return { runId, approvals, pending: approvals.filter((a) => a.state === 'pending'), artifacts, assist };
}
