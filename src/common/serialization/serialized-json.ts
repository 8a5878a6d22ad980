import etag from 'etag';
import { serializeResponse } from './serialize-response';

/**
 * A response body already serialised by `serializeResponse` + JSON.stringify.
 * The global interceptor sends its text as is (routes returning it declare a
 * JSON content type), so cached bytes went through the same allow-list once.
 */
export class SerializedJson {
  private etagValue?: string;

  private constructor(readonly text: string) {}

  static of(dto: unknown): SerializedJson {
    return new SerializedJson(JSON.stringify(serializeResponse(dto)));
  }

  /** Express's own (weak) ETag of these bytes, computed once instead of on every send. */
  get etag(): string {
    this.etagValue ??= etag(this.text, { weak: true });
    return this.etagValue;
  }
}

/**
 * A few serialised bodies keyed by the state they were built from, so that
 * a hot read of unchanged state is a lookup instead of building, serialising
 * and stringifying every item again. Least recently used entries go first.
 */
export class SerializedResponseCache {
  private readonly entries = new Map<string, SerializedJson>();

  constructor(private readonly capacity = 16) {}

  /** `cacheable` vetoes storing a body (e.g. one that reports a failing source). */
  async get<T>(key: string, build: () => Promise<T>, cacheable: (dto: T) => boolean = () => true): Promise<SerializedJson> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const dto = await build();
    const body = SerializedJson.of(dto);
    if (!cacheable(dto)) return body;
    this.entries.set(key, body);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return body;
  }
}
