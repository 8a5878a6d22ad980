/**
 * Text every store keeps byte for byte: no U+0000 (Postgres TEXT cannot hold
 * it) and no lone surrogate (UTF-8 cannot encode one; SQLite would store
 * U+FFFD). Client text that is not is refused (IsStorableText,
 * send-input.dto.ts); model text is made so (StorableTextStream).
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Model text made storable (the rule above): U+0000 and lone surrogates
 * become U+FFFD before the text reaches a delta event or the reply
 * (model-call.ts). Without this the live events carried what the stored
 * item did not (the transcript, and a replayed `message.completed`, which
 * reads its item from the transcript, said U+FFFD where the live one said
 * U+0000), and Postgres could not store the reply at all.
 *
 * A high surrogate at the end of a chunk is held back until the next one: a
 * provider may split a pair between two chunks, and each half alone would be
 * a lone surrogate.
 */
export class StorableTextStream {
  private held = '';

  /** The chunk as it may be stored, less a trailing high surrogate held for the next chunk. */
  push(chunk: string): string {
    let text = this.held === '' ? chunk : this.held + chunk;
    this.held = '';
    if (isHighSurrogate(text.charCodeAt(text.length - 1))) {
      this.held = text.slice(-1);
      text = text.slice(0, -1);
    }
    return storableText(text);
  }

  /** At the end of the stream: U+FFFD for a held high surrogate no low one followed, else ''. */
  end(): string {
    const held = this.held;
    this.held = '';
    return held === '' ? '' : '\ufffd';
  }
}

/** `text` with U+0000 and lone surrogates replaced by U+FFFD (unchanged, and not copied, when it has neither). */
export function storableText(text: string): string {
  if (isStorableText(text)) return text;
  return (text as string & { toWellFormed(): string }).toWellFormed().replaceAll('\u0000', '\ufffd');
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
