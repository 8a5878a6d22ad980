import type { ReadLimits, StoredEvent, StoreNotice, BackendStore } from '../../store/backend-store';

/** Where followers deliver events. `deliver` returns false when the client's buffer is full. */
export interface LogSink {
  deliver(event: StoredEvent): boolean;
  /** Resolves when the client can take more; never rejects (a closed sink resolves and reports `closed`). */
  ready(): Promise<void>;
  end(): void;
  readonly closed: boolean;
}

/** How one log (a worker's, or all of them) is read and ordered. */
interface LogReader {
  position(event: StoredEvent): number;
  /** The next events after `position`, in order, bounded by the page limits. */
  readAfter(position: number): Promise<StoredEvent[]>;
  /** The position of the last committed event. */
  head(): Promise<number>;
}

/**
 * One log's live tail, shared by every follower of that log in this process:
 * each new event is obtained once (handed over by a local commit, or read
 * once from the store when another instance's doorbell rings) and the same
 * event object is given to every follower that is caught up, so projection
 * and serialisation can be done once per event (sinks cache per object).
 */
class Feed {
  /** Position of the last event distributed to live followers; -1 before it is known. */
  head = -1;
  readonly live = new Set<Follower>();
  readonly members = new Set<Follower>();
  private wanted = -1;
  private pumping = false;
  readonly started: Promise<void>;

  constructor(
    readonly reader: LogReader,
    private readonly onIdle: (feed: Feed) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.started = reader.head().then((head) => {
      this.head = Math.max(this.head, head);
      this.wanted = Math.max(this.wanted, head);
    });
  }

  /** Events committed by this process, in commit order. */
  offer(events: StoredEvent[]): void {
    if (this.head < 0) return void this.ring(Infinity); // not started yet: it reads from the store
    for (const event of events) {
      const position = this.reader.position(event);
      if (position <= this.head) continue;
      if (position !== this.head + 1 || this.pumping) {
        // A gap (another instance's or a concurrent commit in between): read the log in order instead.
        this.ring(Infinity);
        return;
      }
      this.distribute(event);
    }
  }

  /** The log advanced to at least `position` (Infinity: read until nothing is left). */
  ring(position: number): void {
    this.wanted = Math.max(this.wanted, position);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      await this.started;
      while (this.wanted > this.head && this.members.size > 0) {
        const page = await this.reader.readAfter(this.head);
        if (page.length === 0) {
          // Nothing after the head: a missing stretch was deleted (a deleted worker's events).
          this.wanted = this.head;
          break;
        }
        for (const event of page) this.distribute(event);
      }
      if (this.wanted === Infinity) this.wanted = this.head;
    } catch (err) {
      this.onError(err);
      // Followers keep their positions; the next doorbell (or resync) tries again.
      this.wanted = this.head;
    } finally {
      this.pumping = false;
    }
  }

  private distribute(event: StoredEvent): void {
    this.head = this.reader.position(event);
    for (const follower of this.live) follower.onLive(event);
  }

  leave(follower: Follower): void {
    this.live.delete(follower);
    this.members.delete(follower);
    if (this.members.size === 0) this.onIdle(this);
  }
}

/**
 * One stream's position in a log. It catches up by reading pages from the
 * store (paced by its client: the next page is read only when the client's
 * buffer drained, so its memory is bounded whatever the log holds), joins
 * the feed's live set once it has read everything the feed has distributed,
 * and falls back to reading pages whenever its client falls behind. Every
 * event reaches it once, in order: positions at or before its own are
 * skipped, and it only joins when nothing lies between it and the feed.
 */
class Follower {
  private closed = false;

  constructor(
    private readonly feed: Feed,
    private readonly sink: LogSink,
    private position: number,
    private readonly isTerminal: (event: StoredEvent) => boolean,
  ) {}

  /** Starts reading after `position` (the follower is already a member of its feed). */
  begin(position: number): void {
    this.position = position;
    void this.catchUp();
  }

  private async catchUp(): Promise<void> {
    try {
      // The join check below compares with the feed's head, which must be known first.
      await this.feed.started;
      for (;;) {
        if (this.closed || this.sink.closed) return this.close();
        const page = await this.feed.reader.readAfter(this.position);
        if (this.closed || this.sink.closed) return this.close();
        let room = true;
        for (const event of page) {
          if (!this.accept(event)) return;
          room = this.lastDeliveryHadRoom;
          if (!room) break;
        }
        if (!room) {
          await this.sink.ready();
          continue;
        }
        if (page.length === 0 && this.position >= this.feed.head) {
          // Caught up, synchronously with the check: nothing can slip in between.
          this.feed.live.add(this);
          return;
        }
      }
    } catch {
      // The store failed while catching up: end the stream; the client resumes from its last id.
      this.sink.end();
      this.close();
    }
  }

  private lastDeliveryHadRoom = true;

  /** Delivers one event if it is new to this follower; false once the stream is over. */
  private accept(event: StoredEvent): boolean {
    const position = this.feed.reader.position(event);
    if (position <= this.position) return true;
    this.position = position;
    this.lastDeliveryHadRoom = this.sink.deliver(event);
    if (this.isTerminal(event)) {
      this.sink.end();
      this.close();
      return false;
    }
    return true;
  }

  onLive(event: StoredEvent): void {
    if (this.closed) return;
    if (this.sink.closed) return this.close();
    if (!this.accept(event)) return;
    if (!this.lastDeliveryHadRoom) {
      // Too far behind for live delivery: read the rest from the log at the client's pace.
      this.feed.live.delete(this);
      void this.sink.ready().then(() => this.catchUp());
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.leave(this);
  }
}

export interface LogSubscription {
  close(): void;
}

/**
 * The event logs as streams: one Feed per worker being watched and one for
 * all workers, fed by the store's notices (events committed here, or a
 * doorbell from another instance, or a resync after the doorbell was down).
 */
export class EventLog {
  private readonly workerFeeds = new Map<number, Feed>();
  private globalFeed: Feed | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: BackendStore,
    private readonly limits: ReadLimits,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.unsubscribe = store.subscribe((notice) => this.onNotice(notice));
  }

  /** Open feeds (tests check they are released). */
  get openFeeds(): number {
    return this.workerFeeds.size + (this.globalFeed ? 1 : 0);
  }

  private onNotice(notice: StoreNotice): void {
    if (notice.type === 'resync') {
      for (const feed of this.workerFeeds.values()) feed.ring(Infinity);
      this.globalFeed?.ring(Infinity);
      return;
    }
    if (notice.type !== 'events') return;
    if (notice.events) {
      const byWorker = new Map<number, StoredEvent[]>();
      for (const event of notice.events) {
        if (!this.workerFeeds.has(event.workerPk)) continue;
        const list = byWorker.get(event.workerPk) ?? [];
        list.push(event);
        byWorker.set(event.workerPk, list);
      }
      for (const [pk, events] of byWorker) this.workerFeeds.get(pk)?.offer(events);
      this.globalFeed?.offer(notice.events);
      return;
    }
    for (const { workerPk, lastEventNo } of notice.workers) this.workerFeeds.get(workerPk)?.ring(lastEventNo);
    this.globalFeed?.ring(notice.lastGlobalSeq);
  }

  /**
   * Follows one worker's log from `afterEventNo` (exclusive), or from its
   * current end when undefined. Ends after `worker.deleted`.
   */
  async followWorker(workerPk: number, afterEventNo: number | undefined, sink: LogSink): Promise<LogSubscription> {
    let feed = this.workerFeeds.get(workerPk);
    if (!feed) {
      const reader: LogReader = {
        position: (e) => e.eventNo,
        readAfter: (after) => this.store.read((q) => q.readWorkerEvents(workerPk, after, this.limits)),
        head: async () => {
          const worker = await this.store.read((q) => q.getWorkerByPk(workerPk));
          return worker ? worker.nextEventNo - 1 : -1;
        },
      };
      feed = new Feed(reader, (f) => this.workerFeeds.get(workerPk) === f && this.workerFeeds.delete(workerPk), this.onError);
      this.workerFeeds.set(workerPk, feed);
    }
    return this.follow(feed, afterEventNo, sink, (e) => e.kind === 'worker.deleted');
  }

  /** Follows every worker's log by global position. */
  async followAll(afterSeq: number | undefined, sink: LogSink): Promise<LogSubscription> {
    if (!this.globalFeed) {
      const reader: LogReader = {
        position: (e) => e.globalSeq,
        readAfter: (after) => this.store.read((q) => q.readAllEvents(after, this.limits)),
        head: () => this.store.read((q) => q.lastGlobalSeq()),
      };
      this.globalFeed = new Feed(reader, (f) => this.globalFeed === f && (this.globalFeed = undefined), this.onError);
    }
    return this.follow(this.globalFeed, afterSeq, sink, () => false);
  }

  private async follow(feed: Feed, after: number | undefined, sink: LogSink, isTerminal: (e: StoredEvent) => boolean): Promise<LogSubscription> {
    const follower = new Follower(feed, sink, -1, isTerminal);
    feed.members.add(follower); // before any await: an idle feed is dropped only when no one is starting on it
    try {
      follower.begin(after ?? (await feed.reader.head()));
    } catch (err) {
      follower.close();
      throw err;
    }
    return { close: () => follower.close() };
  }

  close(): void {
    this.unsubscribe();
  }
}
