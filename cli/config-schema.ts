import { z } from 'zod';
import { API_TOKEN_RE } from '../protocol/ids.js';

/**
 * What `ccg login` saves: the gateway, its certificate pin and an API token, in
 * `$XDG_CONFIG_HOME/ccg/config.json` (default `~/.config/ccg/config.json`), mode 0600 in a 0700
 * directory. Every gateway command falls back to it when no flag or environment variable says
 * otherwise.
 */
export const SavedConfig = z.object({
  gateway: z.string().url(),
  fingerprint: z.string().nullable(),
  token: z.string().regex(API_TOKEN_RE),
  user: z.object({ name: z.string(), role: z.string() }).optional(),
  savedAt: z.string().optional(),
});
export type SavedConfig = z.infer<typeof SavedConfig>;
