import { z } from 'zod';

/** The largest time a JavaScript Date can hold (ms since the epoch): past it, toISOString() throws. */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;

/**
 * A point in time a runner reports (ms since the epoch, its clock): bounded, so that showing it
 * (`new Date(t).toISOString()`) can never throw in the gateway, a page or the TUI.
 */
export const EpochMs = z.number().int().nonnegative().max(MAX_EPOCH_MS);
