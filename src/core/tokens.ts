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

/** A fresh random token: a deleted token never comes back. */
export function newToken(): string {
  return randomBytes(12).toString('base64url');
}
