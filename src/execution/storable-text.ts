/**
 * Model text as every store keeps it byte for byte, the rule inputs are held
 * to (send-input.dto.ts): U+0000 (Postgres TEXT cannot hold it) and lone
 * surrogates (UTF-8 cannot encode them; SQLite would store U+FFFD) become
 * U+FFFD before the text reaches a delta event or the reply. Without this the
 * live events carried what the stored item did not (the transcript, and a
 * replayed `message.completed`, which reads its item from the transcript,
 * said U+FFFD where the live one said U+0000), and Postgres could not store
 * the reply at all.
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
  const s = text as string & { isWellFormed(): boolean; toWellFormed(): string };
  const wellFormed = s.isWellFormed() ? text : s.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\ufffd') : wellFormed;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
