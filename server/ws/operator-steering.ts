import type { Approval } from '../../protocol/claude-control.js';
import { CcgError } from '../../protocol/errors.js';
import type { GatewayToOperator, OperatorToGateway } from '../../protocol/operator-messages.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { ApprovalService } from '../core/approvals.js';
import type { SteeringService } from '../core/steering.js';
import type { Logger } from '../log.js';

export type SteeringMessage = Extract<OperatorToGateway, { type: 'approval_answer' | 'input' | 'resize' }>;
export const STEERING_MESSAGE_TYPES = ['approval_answer', 'input', 'resize'] as const;

/** What the operator socket needs for approvals and input (see operator-socket.ts). */
export interface OperatorSteering {
  /** The run's open approvals, sent right after `subscribe`. */
  approvals(runId: string): Approval[];
  /** Handles one message; errors are answered (never fatal for the socket). */
  handle(who: Principal, remote: string, msg: SteeringMessage, reply: (msg: GatewayToOperator) => void): void;
}

export function operatorSteering(approvals: ApprovalService, steering: SteeringService, log: Logger): OperatorSteering {
  const fail = (err: unknown, runId: string, reply: (msg: GatewayToOperator) => void) => {
    const e = err instanceof CcgError ? err : new CcgError('ERR_INTERNAL');
    if (!(err instanceof CcgError)) log.error('operator.steering_failed', { run: runId, err: String(err) });
    reply({ type: 'error', code: e.code, message: e.message, runId });
  };
  return {
    approvals: (runId) => approvals.list(runId),
    handle(who, remote, msg, reply) {
      try {
        switch (msg.type) {
          case 'approval_answer':
            requireRole(who, 'operator');
            // Every subscriber (this one included) hears the result as an `approval` message.
            approvals
              .answer(msg.runId, msg.approvalId, { decision: msg.decision, always: msg.always, message: msg.message }, who, remote)
              .catch((err: unknown) => fail(err, msg.runId, reply));
            return;
          case 'input': {
            if ((msg.text === undefined) === (msg.data === undefined)) throw new CcgError('ERR_BAD_REQUEST', 'give exactly one of text and data');
            steering
              .input(msg.runId, { text: msg.text, data: msg.data }, who, remote)
              .then(({ inputId }) => reply({ type: 'input_accepted', runId: msg.runId, inputId, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) }))
              .catch((err: unknown) => fail(err, msg.runId, reply));
            return;
          }
          case 'resize':
            steering.resize(msg.runId, msg.cols, msg.rows, who);
            return;
          default: {
            const never: never = msg;
            return never;
          }
        }
      } catch (err) {
        fail(err, msg.runId, reply);
      }
    },
  };
}
