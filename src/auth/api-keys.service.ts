import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { registerSecret } from '../common/logging/secret-registry';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { EventStreams } from '../events/event-streams';
import { type StoredApiKey, BackendStore } from '../store/backend-store';
import { BOOTSTRAP_KEY_HEX, ENV_KEY_ID, GENERATED_KEY_PATTERN, keyIdOf, type Scope, SCOPES } from './auth.constants';

/** Who a request acts as. */
export interface Principal {
  keyId: string;
  scopes: readonly Scope[];
}

/** One-shot: no Hash object per request (every request hashes its key). */
const sha256 = (text: string) => hash('sha256', text, 'buffer');

/** How long a key looked up in the store is trusted before it is read again (revocation elsewhere also arrives as a notice). */
const CACHE_MS = 1000;
/** Entries per map of KeyLookups (a 1 s cache: only a flood fills it). */
const MAX_CACHED_IDS = 10_000;

/**
 * What the store said of a key id, for CACHE_MS. Ids that name no key
 * (anyone may send them, a flood of random ones included) are kept apart
 * from the keys in use, so filling up with them never evicts a valid key:
 * when a map is full it is emptied, and only that map.
 */
export class KeyLookups {
  private readonly found = new Map<string, { key: StoredApiKey; at: number }>();
  private readonly missing = new Map<string, number>();

  /** The cached answer (a key, or null: no such key), or undefined when none is fresh. */
  get(keyId: string, now: number): StoredApiKey | null | undefined {
    const found = this.found.get(keyId);
    if (found && now - found.at < CACHE_MS) return found.key;
    const missingAt = this.missing.get(keyId);
    if (missingAt !== undefined && now - missingAt < CACHE_MS) return null;
    return undefined;
  }

  remember(keyId: string, key: StoredApiKey | undefined, now: number): void {
    this.forget(keyId);
    if (key) {
      if (this.found.size >= MAX_CACHED_IDS) this.found.clear();
      this.found.set(keyId, { key, at: now });
    } else {
      if (this.missing.size >= MAX_CACHED_IDS) this.missing.clear();
      this.missing.set(keyId, now);
    }
  }

  forget(keyId: string): void {
    this.found.delete(keyId);
    this.missing.delete(keyId);
  }

  clear(): void {
    this.found.clear();
    this.missing.clear();
  }
}

/** `last_used_at` is written at most this often per key: a write per request would cost more than the request. */
const LAST_USED_EVERY_MS = 60_000;

/**
 * API keys (SPEC §11): created with 256 random secret bits and stored only
 * as a SHA-256 hash (a high-entropy secret needs no slow hash); compared in
 * constant time; revoked keys end their open streams on every instance
 * (a store notice) within a second. The env API_KEY is an admin key that is
 * never stored.
 */
@Injectable()
export class ApiKeys implements OnModuleDestroy {
  private readonly logger = new Logger(ApiKeys.name);
  private readonly envKeyHash: Buffer | null;
  private readonly cache = new KeyLookups();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    @Inject(BackendStore) private readonly store: BackendStore,
    @Inject(EventStreams) private readonly streams: EventStreams,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.envKeyHash = config.auth.apiKey ? sha256(config.auth.apiKey) : null;
    this.unsubscribe = store.subscribe((notice) => {
      if (notice.type === 'key-revoked') this.revoked(notice.keyId);
      if (notice.type === 'resync') this.cache.clear();
    });
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }

  /** The principal of a presented token, or undefined. */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (this.envKeyHash && timingSafeEqual(sha256(token), this.envKeyHash)) return { keyId: ENV_KEY_ID, scopes: ['admin'] };
    const match = GENERATED_KEY_PATTERN.exec(token);
    if (!match) return undefined;
    const keyId = keyIdOf(match[1]);
    const key = await this.lookup(keyId);
    if (!key || key.revokedAtMs !== null) return undefined;
    if (!timingSafeEqual(sha256(match[2]), Buffer.from(key.secretHash, 'hex'))) return undefined;
    this.noteUse(key);
    return { keyId, scopes: key.scopes as Scope[] };
  }

  private async lookup(keyId: string): Promise<StoredApiKey | undefined> {
    const cached = this.cache.get(keyId, Date.now());
    if (cached !== undefined) return cached ?? undefined;
    const key = await this.store.read((q) => q.getApiKey(keyId));
    this.cache.remember(keyId, key, Date.now());
    return key;
  }

  private noteUse(key: StoredApiKey): void {
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(key.keyId) ?? 0) < LAST_USED_EVERY_MS) return;
    this.lastUsedWritten.set(key.keyId, now);
    void this.store
      .write(async (tx) => {
        const current = await tx.getApiKey(key.keyId);
        if (current && current.revokedAtMs === null) await tx.upsertApiKey({ ...current, lastUsedAtMs: now });
      })
      .catch((err) => this.logger.warn(`could not record the use of key ${key.keyId}: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** Creates a key; the token is returned this once and never again. */
  async create(name: string, scopes: Scope[], hex = randomBytes(12).toString('hex')): Promise<{ key: StoredApiKey; token: string }> {
    const secret = randomBytes(32).toString('base64url');
    const token = `wbk_${hex}_${secret}`;
    registerSecret(token);
    const key: StoredApiKey = {
      keyId: keyIdOf(hex),
      name,
      scopes: SCOPES.filter((s) => scopes.includes(s)),
      secretHash: sha256(secret).toString('hex'),
      createdAtMs: Date.now(),
      lastUsedAtMs: null,
      revokedAtMs: null,
    };
    await this.store.write((tx) => tx.upsertApiKey(key));
    this.cache.forget(key.keyId);
    return { key, token };
  }

  /**
   * With no API_KEY: a fresh admin key for this start, replacing the
   * previous start's (one fixed id), so exactly one generated bootstrap key
   * is valid at a time.
   */
  async createBootstrapKey(): Promise<string> {
    const { token } = await this.create('bootstrap', ['admin'], BOOTSTRAP_KEY_HEX);
    return token;
  }

  async list(afterKeyId: string, limit: number): Promise<{ keys: StoredApiKey[]; more: boolean }> {
    const keys = await this.store.read((q) => q.listApiKeys(afterKeyId, limit + 1));
    return { keys: keys.slice(0, limit), more: keys.length > limit };
  }

  async get(keyId: string): Promise<StoredApiKey | undefined> {
    const key = await this.store.read((q) => q.getApiKey(keyId));
    return key && key.revokedAtMs === null ? key : undefined;
  }

  /** Revokes a key: requests with it fail from now on, and its open streams end (here and on other instances). */
  async revoke(keyId: string): Promise<boolean> {
    const done = await this.store.write(async (tx) => {
      const key = await tx.getApiKey(keyId);
      if (!key || key.revokedAtMs !== null) return false;
      await tx.deleteApiKey(keyId);
      tx.notify({ type: 'key-revoked', keyId });
      return true;
    });
    return done;
  }

  private revoked(keyId: string): void {
    this.cache.remember(keyId, undefined, Date.now());
    this.streams.closeForKey(keyId);
  }
}
