import type { z } from 'zod';
import { CcgError } from '../../protocol/errors.js';

/**
 * One JSON text frame, validated against the socket's message union. A frame that is not JSON
 * or does not match is ERR_BAD_FRAME; one whose `type` the socket does not know at all is
 * ERR_UNKNOWN_TYPE (so a client speaking a newer protocol hears which message was refused).
 */
export function parseTextMessage<S extends z.ZodType>(text: string, schema: S, knownTypes: readonly string[]): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CcgError('ERR_BAD_FRAME', 'text frame is not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !knownTypes.includes(type)) {
    throw new CcgError('ERR_UNKNOWN_TYPE', `unknown message type "${type.slice(0, 40)}"`);
  }
  throw new CcgError('ERR_BAD_FRAME', parsed.error.issues[0]?.message ?? 'invalid message');
}
