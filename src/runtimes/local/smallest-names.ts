/**
 * Keeps the `capacity` smallest names (byte order) strictly greater than
 * `after` out of a stream of any length, in bounded memory: a sorted array of
 * at most `capacity` items, binary-search insertion. Also counts how many
 * names after `after` were seen, so the caller can tell whether any name
 * follows the kept ones.
 */
export class SmallestNames<T extends { name: Buffer }> {
  private readonly kept: T[] = [];
  private greater = 0;

  constructor(
    readonly capacity: number,
    private readonly after?: Buffer,
  ) {}

  offer(item: T): void {
    if (this.after !== undefined && Buffer.compare(item.name, this.after) <= 0) return;
    const kept = this.kept;
    // Past capacity, only a name smaller than the largest kept one gets in.
    if (kept.length >= this.capacity && (kept.length === 0 || Buffer.compare(item.name, kept[kept.length - 1].name) >= 0)) {
      if (kept.length === 0 || Buffer.compare(item.name, kept[kept.length - 1].name) > 0) this.greater++;
      return;
    }
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const cmp = Buffer.compare(kept[mid].name, item.name);
      if (cmp === 0) return; // a listing may repeat a name that was renamed meanwhile
      if (cmp < 0) lo = mid + 1;
      else hi = mid;
    }
    kept.splice(lo, 0, item);
    this.greater++;
    if (kept.length > this.capacity) kept.pop();
  }

  /** The kept names, smallest first. */
  items(): readonly T[] {
    return this.kept;
  }

  /** Names after `after` seen and not kept (distinct from the kept ones). */
  get dropped(): number {
    return this.greater - this.kept.length;
  }

  /** Size of the internal array: never more than capacity. */
  get size(): number {
    return this.kept.length;
  }
}
