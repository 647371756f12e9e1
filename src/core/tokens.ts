import { randomBytes } from 'node:crypto';

/**
 * Tokens are what the race guard compares: a guard per key, a generation per model and a table token per table
 * (core/keys.ts names their keys). Entries are stamped with the tokens current before their DB read, and a
 * flush deletes tokens; a fresh token is random, so a deleted one never comes back.
 */

/** A token as read from the store, or undefined where there is none. */
export function asToken(raw: unknown): string | undefined {
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

/**
 * A fresh token, never made before by any process: 16 random characters drawn once per process (96 bits), then
 * a counter. Tokens are compared, never guessed at, so uniqueness is all they need: a deleted token never comes
 * back. Drawing random bytes per token cost a microsecond on every cold read.
 */
export function newToken(): string {
  return PROCESS_PART + (++made).toString(36);
}

const PROCESS_PART = randomBytes(12).toString('base64url');
let made = 0;
