/**
 * Binary output frames. Output is bytes, not text (a child may write any bytes, and `ccg runs
 * logs` must give them back exactly), so it travels in binary WebSocket frames with a small
 * fixed header; everything else is JSON in text frames.
 *
 * Runner → gateway, kind 0x01 (OUTPUT):
 *   u8 kind | u8 stream | u64be seq | data…                       (10-byte header)
 * Gateway → operator, kind 0x02 (VIEW):
 *   u8 kind | u8 stream | u64be seq | f64be time | u8 n | runId (n bytes ASCII) | data…
 */
export const FRAME_OUTPUT = 0x01;
export const FRAME_VIEW = 0x02;

/**
 * Streams of a run's output. 0 and 1 are the child's own; 2 is the output of allowlisted
 * commands run on request; 3 carries runner events as JSON lines (see runner-events.ts), so that
 * they are spooled, acknowledged and resent exactly like output.
 */
export const STREAMS = ['stdout', 'stderr', 'command', 'event'] as const;
export type StreamName = (typeof STREAMS)[number];
export const STREAM_STDOUT = 0;
export const STREAM_STDERR = 1;
export const STREAM_COMMAND = 2;
export const STREAM_EVENT = 3;
/** The child's own output: what `ccg runs logs` prints by default. */
export const CHILD_STREAMS: ReadonlySet<number> = new Set([STREAM_STDOUT, STREAM_STDERR]);

export const OUTPUT_HEADER_BYTES = 10;
/** Largest data payload of one output chunk. The runner never sends more; the gateway refuses more. */
export const MAX_CHUNK_DATA = 256 * 1024;

export interface OutputChunk {
  stream: number;
  seq: number;
  data: Uint8Array;
}

export interface ViewChunk extends OutputChunk {
  runId: string;
  time: number;
}

export type FrameResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * A u64be seq at `at`, read as two 32-bit halves (no BigInt per frame); undefined outside
 * 1..2^53-1.
 */
function readSeq(bytes: Uint8Array, at: number): number | undefined {
  const hi = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  const lo = ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
  if (hi >= 0x20_0000 || (hi === 0 && lo === 0)) return undefined;
  return hi * 0x1_0000_0000 + lo;
}

export function encodeOutput(chunk: OutputChunk): Buffer {
  const buf = Buffer.allocUnsafe(OUTPUT_HEADER_BYTES + chunk.data.length);
  buf[0] = FRAME_OUTPUT;
  buf[1] = chunk.stream;
  buf.writeBigUInt64BE(BigInt(chunk.seq), 2);
  buf.set(chunk.data, OUTPUT_HEADER_BYTES);
  return buf;
}

/**
 * Decodes a runner output frame. The returned `data` is a copy: uWebSockets.js frees the
 * message buffer as soon as the handler returns. `headroom`: that many free bytes are left right
 * before `data` in its buffer (the gateway's store writes its record header there instead of
 * copying the chunk again).
 */
export function decodeOutput(message: ArrayBuffer, headroom = 0): FrameResult<OutputChunk> {
  if (message.byteLength < OUTPUT_HEADER_BYTES) return { ok: false, message: 'output frame shorter than its header' };
  // Bytes read straight from the frame: no DataView, no BigInt (this runs once per line).
  const bytes = new Uint8Array(message);
  if (bytes[0] !== FRAME_OUTPUT) return { ok: false, message: `unknown binary frame kind ${bytes[0]}` };
  const stream = bytes[1]!;
  if (stream >= STREAMS.length) return { ok: false, message: `unknown stream ${stream}` };
  const seq = readSeq(bytes, 2);
  if (seq === undefined) return { ok: false, message: 'sequence number out of range' };
  const length = bytes.length - OUTPUT_HEADER_BYTES;
  if (length > MAX_CHUNK_DATA) return { ok: false, message: `chunk of ${length} bytes exceeds ${MAX_CHUNK_DATA}` };
  // Copied into Buffer.allocUnsafe's memory: a line (under 4 KiB) lands in Node's shared pool
  // instead of an ArrayBuffer of its own (ArrayBuffer.slice), which at 20,000 lines a second was
  // a good part of the gateway's garbage collection; nothing is zero-filled first.
  const data = Buffer.allocUnsafe(headroom + length);
  data.set(bytes.subarray(OUTPUT_HEADER_BYTES), headroom);
  return { ok: true, value: { stream, seq, data: headroom === 0 ? data : data.subarray(headroom) } };
}

/** Encodes a VIEW frame. */
export function encodeView(chunk: ViewChunk, runIdBytes: Uint8Array = Buffer.from(chunk.runId, 'ascii')): Buffer {
  const buf = encodeViewHead(chunk, runIdBytes, chunk.data.length);
  buf.set(chunk.data, buf.length - chunk.data.length);
  return buf;
}

/**
 * A VIEW frame's header, followed by `room` bytes left for its data (uninitialised): the whole
 * frame, or with room 0 the first fragment of one whose data is sent as is (a viewer's
 * subscription sends a large chunk so rather than copy it). `runIdBytes`: the run id as ASCII.
 */
export function encodeViewHead(chunk: Pick<ViewChunk, 'seq' | 'stream' | 'time'>, runIdBytes: Uint8Array, room = 0): Buffer {
  const n = runIdBytes.length;
  const head = 19 + n;
  const buf = Buffer.allocUnsafe(head + room);
  buf[0] = FRAME_VIEW;
  buf[1] = chunk.stream;
  // The seq as two 32-bit halves: no BigInt per frame (seq ≤ 2^53).
  buf.writeUInt32BE(Math.floor(chunk.seq / 0x1_0000_0000), 2);
  buf.writeUInt32BE(chunk.seq >>> 0, 6);
  buf.writeDoubleBE(chunk.time, 10);
  buf[18] = n;
  buf.set(runIdBytes, 19);
  return buf;
}

export function decodeView(message: ArrayBuffer | Uint8Array): FrameResult<ViewChunk> {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  if (bytes.length < 19) return { ok: false, message: 'view frame shorter than its header' };
  if (bytes[0] !== FRAME_VIEW) return { ok: false, message: `unknown binary frame kind ${bytes[0]}` };
  const seq = readSeq(bytes, 2);
  if (seq === undefined) return { ok: false, message: 'sequence number out of range' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes[18]!;
  if (bytes.length < 19 + n) return { ok: false, message: 'view frame truncated' };
  const runId = Buffer.from(bytes.subarray(19, 19 + n)).toString('ascii');
  return {
    ok: true,
    value: {
      stream: bytes[1]!,
      seq,
      time: view.getFloat64(10),
      runId,
      data: bytes.subarray(19 + n),
    },
  };
}
