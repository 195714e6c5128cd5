import { z } from 'zod';

/**
 * Artifacts: files a runner collects (at exit and on request) and uploads over HTTPS, signed with
 * the run token. The gateway keeps them content-addressed (sha256) and serves them to operators
 * as attachments.
 */

export const ARTIFACT_KINDS = ['log', 'diff', 'diff-staged', 'untracked', 'file'] as const;
export const ArtifactKind = z.enum(ARTIFACT_KINDS);
export type ArtifactKind = z.infer<typeof ArtifactKind>;

/**
 * Artifact names: `/`-separated segments of letters, digits and `._+@-`, none of them `.` or `..`,
 * at most 400 characters. Nothing that could traverse a path, end a header or hide in a terminal:
 * no NUL, no CR/LF, no quote, no backslash, no space.
 */
const SEGMENT_RE = /^[A-Za-z0-9._+@-]{1,128}$/;
export const ARTIFACT_NAME_MAX = 400;

export function isArtifactName(name: string): boolean {
  if (name.length === 0 || name.length > ARTIFACT_NAME_MAX) return false;
  const parts = name.split('/');
  if (parts.length > 16) return false;
  return parts.every((p) => SEGMENT_RE.test(p) && p !== '.' && p !== '..');
}

export const ArtifactName = z.string().refine(isArtifactName, 'artifact names are /-separated segments of [A-Za-z0-9._+@-] (no . or .. segments, at most 400 characters)');

/** Replaces every character a name may not hold with `_` (for file paths found by a glob). */
export function sanitizeArtifactSegment(segment: string): string {
  const s = segment.replace(/[^A-Za-z0-9._+@-]/g, '_').slice(0, 128);
  return s === '.' || s === '..' || s === '' ? '_' : s;
}

/** The last segment: what a download is saved as. Safe in a quoted header value by construction. */
export function artifactBasename(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

const TEXT = 'text/plain; charset=utf-8';
/**
 * Content types by extension. Anything a browser would render as active content (HTML, SVG, XML,
 * JavaScript) is served as an opaque download instead: artifacts come from the workspace, which
 * Claude writes.
 */
const BY_EXT: Record<string, string> = {
  txt: TEXT, log: TEXT, md: TEXT, csv: 'text/csv; charset=utf-8', tsv: TEXT, out: TEXT, lcov: TEXT, info: TEXT,
  patch: 'text/x-diff; charset=utf-8', diff: 'text/x-diff; charset=utf-8',
  json: 'application/json', ndjson: 'application/x-ndjson', jsonl: 'application/x-ndjson',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip', tgz: 'application/gzip', tar: 'application/x-tar',
};

export function artifactContentType(name: string, kind: ArtifactKind): string {
  if (kind === 'diff' || kind === 'diff-staged') return 'text/x-diff; charset=utf-8';
  if (kind === 'log' || kind === 'untracked') return TEXT;
  const base = artifactBasename(name);
  const dot = base.lastIndexOf('.');
  const ext = dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
  return BY_EXT[ext] ?? 'application/octet-stream';
}

/** One stored artifact, as the API lists it. */
export const ArtifactInfo = z.object({
  name: z.string(),
  kind: ArtifactKind,
  /** Stored bytes (after the gateway's redaction pass). */
  bytes: z.number().int().nonnegative(),
  /** Lowercase hex SHA-256 of the stored bytes: where the blob lives under `.data/artifacts/`. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  contentType: z.string(),
  /** The runner cut it at its size cap; `originalBytes` says how large it was. */
  truncated: z.boolean(),
  originalBytes: z.number().int().nonnegative().nullable(),
  /** True when it was text and went through secret redaction (runner and gateway). */
  redacted: z.boolean(),
  /** The collect request it answered, or null when collected at exit. */
  collection: z.string().nullable(),
  uploadedAt: z.number(),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfo>;

export const ArtifactsResponse = z.object({ artifacts: z.array(ArtifactInfo) });
export type ArtifactsResponse = z.infer<typeof ArtifactsResponse>;

/** `POST /api/v1/runs/{id}/collect` answers with the request id; the result arrives as events. */
export const CollectResponse = z.object({ requestId: z.string(), fromSeq: z.number().int().positive() });
export type CollectResponse = z.infer<typeof CollectResponse>;

/** The runner's signed upload: `POST /api/v1/runner/runs/{id}/artifacts?<this query>`, raw body. */
export const UploadQuery = z
  .object({
    name: ArtifactName,
    kind: ArtifactKind,
    /** The collect request id, or `exit`. */
    collection: z.string().regex(/^(exit|[A-Za-z0-9_-]{16,64})$/),
    truncated: z.enum(['0', '1']).default('0'),
    originalBytes: z.string().regex(/^[0-9]{1,15}$/).optional(),
  })
  .strict();
export type UploadQuery = z.infer<typeof UploadQuery>;

/** The path of the upload endpoint for a run. */
export function uploadPath(runId: string): string {
  return `/api/v1/runner/runs/${runId}/artifacts`;
}
