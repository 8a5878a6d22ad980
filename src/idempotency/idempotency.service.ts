import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { type StoredIdempotencyRecord, BackendStore } from '../store/backend-store';

/** SPEC §10: a repeat within 24 h replays the first answer. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** An unfinished record older than this belongs to a request that died with its instance: another may take it over. */
const IN_PROGRESS_STALE_MS = 60_000;
/** How long a duplicate waits for the first request's answer before 409 idempotency_in_progress. */
const WAIT_MS = 10_000;
const POLL_MS = 25;

export type IdempotencyStart =
  | { kind: 'act'; token: string }
  | { kind: 'replay'; status: number; body: unknown; location: string | null };

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** JSON with sorted keys: the same body, whatever its key order, has one fingerprint. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/**
 * Idempotent writes (SPEC §10), kept in the store so they hold across
 * restarts and instances. A key is scoped to the API key, method and path;
 * the first request inserts an in-progress record (the store lets exactly
 * one insert win), acts, and stores its 2xx answer; a repeat with the same
 * body replays it, with another body is `422 idempotency_key_reused`; a
 * concurrent duplicate waits for the answer (bounded) and replays it, else
 * `409 idempotency_in_progress`. Errors are not stored: a retry acts again.
 */
@Injectable()
export class Idempotency {
  constructor(@Inject(BackendStore) private readonly store: BackendStore) {}

  scopeOf(principal: string, method: string, path: string, key: string): string {
    return sha256(`${principal}\n${method}\n${path}\n${key}`);
  }

  async start(scopeKey: string, body: unknown, workerId: string | null): Promise<IdempotencyStart> {
    const fingerprint = sha256(canonicalJson(body));
    const token = randomBytes(12).toString('hex');
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const now = Date.now();
      const outcome = await this.store.write(async (tx) => {
        const fresh: StoredIdempotencyRecord = {
          scopeKey,
          fingerprint,
          state: 'in_progress',
          owner: token,
          workerId,
          status: null,
          body: null,
          location: null,
          createdAtMs: now,
          updatedAtMs: now,
        };
        if (await tx.insertIdempotencyIfAbsent(fresh)) return { kind: 'act' as const };
        const existing = await tx.lockIdempotency(scopeKey);
        if (!existing) return { kind: 'retry' as const };
        const expired = existing.createdAtMs < now - IDEMPOTENCY_TTL_MS;
        const abandoned = existing.state === 'in_progress' && existing.updatedAtMs < now - IN_PROGRESS_STALE_MS;
        if (expired || abandoned) {
          await tx.putIdempotency(fresh);
          return { kind: 'act' as const };
        }
        if (existing.fingerprint !== fingerprint) return { kind: 'conflict' as const };
        if (existing.state === 'completed') return { kind: 'replay' as const, record: existing };
        return { kind: 'wait' as const };
      });
      switch (outcome.kind) {
        case 'act':
          return { kind: 'act', token };
        case 'conflict':
          throw new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body');
        case 'replay':
          return { kind: 'replay', status: outcome.record.status!, body: JSON.parse(outcome.record.body!), location: outcome.record.location };
        case 'retry':
          continue;
        case 'wait':
          if (Date.now() + POLL_MS > deadline) {
            throw new ApiError(409, 'idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly', { headers: { 'Retry-After': '1' } });
          }
          await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
  }

  /** Stores the 2xx answer of the request that acted (only if it still holds the record). */
  async complete(scopeKey: string, token: string, answer: { status: number; body: unknown; location: string | null }): Promise<void> {
    await this.store.write(async (tx) => {
      const record = await tx.lockIdempotency(scopeKey);
      if (!record || record.owner !== token) return;
      await tx.putIdempotency({
        ...record,
        state: 'completed',
        status: answer.status,
        body: JSON.stringify(answer.body),
        location: answer.location,
        updatedAtMs: Date.now(),
      });
    });
  }

  /** The request failed: its key is free again, so a retry acts. */
  async abandon(scopeKey: string, token: string): Promise<void> {
    await this.store.write(async (tx) => {
      const record = await tx.lockIdempotency(scopeKey);
      if (record && record.owner === token) await tx.deleteIdempotency(scopeKey);
    });
  }

  /** Removes records past their 24 h; returns how many. */
  purgeExpired(): Promise<number> {
    return this.store.write((tx) => tx.purgeIdempotency(Date.now() - IDEMPOTENCY_TTL_MS, 1000));
  }
}
