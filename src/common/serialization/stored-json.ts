/**
 * A response body that already went through `serializeResponse` (an
 * idempotent replay, or the answer it was stored from). The allow-list
 * adapter passes it on unchanged; its JSON is `value`.
 */
export class StoredJson {
  constructor(readonly value: unknown) {}

  toJSON(): unknown {
    return this.value;
  }
}
