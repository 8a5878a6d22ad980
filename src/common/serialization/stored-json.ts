/**
 * A response body that already went through `serializeResponse` (an
 * idempotent replay, or the answer it was stored from). The allow-list
 * interceptor passes it on unchanged; Express sends `value`.
 */
export class StoredJson {
  constructor(readonly value: unknown) {}

  toJSON(): unknown {
    return this.value;
  }
}
