import { performance } from 'node:perf_hooks';
import type { ReadLimits, StoredEvent, StoreNotice, BackendStore } from '../../store/backend-store';

/** Where followers deliver events. `deliver` returns false when the client's buffer is full. */
export interface LogSink {
  deliver(event: StoredEvent): boolean;
  /**
   * Several events at once, in order (a live window's events, see {@link LiveWindow}); the same
   * array object is handed to every caught-up follower of a log, so a sink may cache what it
   * makes of it (a follower that had read part of the window itself, or whose stream ends inside
   * it, gets a slice of its own). Without it, the events are delivered one by one.
   */
  deliverBatch?(events: readonly StoredEvent[]): boolean;
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
 * Live delivery window: an event that `mayWait` (a delta: more follow) and
 * comes within `ms` of the feed's last delivery waits for the window's end
 * and goes to the followers together with the events that joined it; any
 * other event goes at once, after the ones waiting. Each caught-up follower
 * is then called once per window instead of once per event, which is what
 * keeps the CPU per event flat in the number of followers (0: each at once).
 */
export interface LiveWindow {
  ms: number;
  mayWait(event: StoredEvent): boolean;
}

const NO_WINDOW: LiveWindow = { ms: 0, mayWait: () => false };

/**
 * One log's live tail, shared by every follower of that log in this process:
 * each new event is obtained once (handed over by a local commit, or read
 * once from the store when another instance's doorbell rings) and the same
 * event object is given to every follower that is caught up, so projection
 * and serialisation can be done once per event (sinks cache per object);
 * live deltas close together go out as one shared array per window (see
 * {@link LiveWindow}).
 */
class Feed {
  /**
   * Position of the last event this feed took for its live followers (delivered, or waiting in
   * the window); -1 before it is known. A follower joins the live set only once it has read at
   * least this far, and skips whatever of a window it already read.
   */
  head = -1;
  readonly live = new Set<Follower>();
  readonly members = new Set<Follower>();
  private wanted = -1;
  private pumping = false;
  readonly started: Promise<void>;
  /** Events waiting for the end of the live window, in order. */
  private waiting: StoredEvent[] = [];
  private windowTimer?: NodeJS.Timeout;
  private lastSentAt = -Infinity;

  constructor(
    readonly reader: LogReader,
    private readonly onIdle: (feed: Feed) => void,
    private readonly onError: (err: unknown) => void,
    private readonly window: LiveWindow = NO_WINDOW,
  ) {
    this.started = reader.head().then((head) => {
      this.head = Math.max(this.head, head);
      this.wanted = Math.max(this.wanted, head);
    });
  }

  /** Events committed by this process, in commit order. */
  offer(events: StoredEvent[]): void {
    if (this.head < 0) return void this.ring(Infinity); // not started yet: it reads from the store
    let sendNow = false;
    for (const event of events) {
      const position = this.reader.position(event);
      if (position <= this.head) continue;
      if (position !== this.head + 1 || this.pumping) {
        // A gap (another instance's or a concurrent commit in between): read the log in order instead.
        if (sendNow) this.send();
        this.ring(Infinity);
        return;
      }
      if (this.take(event)) sendNow = true;
    }
    if (sendNow) this.send();
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
        if (this.members.size === 0) break; // everyone left during the read: nothing to take
        if (page.length === 0) {
          // Nothing after the head: a missing stretch was deleted (a deleted worker's events).
          this.wanted = this.head;
          break;
        }
        let sendNow = false;
        for (const event of page) if (this.take(event)) sendNow = true;
        if (sendNow) this.send();
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

  /**
   * Takes the next event for the live followers. True when it may not wait: the caller then sends
   * what is waiting once it has taken the rest of its events (one commit's, one page), so they go
   * out together. An event that may wait goes at the window's end, or with the next that may not.
   */
  private take(event: StoredEvent): boolean {
    this.head = this.reader.position(event);
    this.waiting.push(event);
    if (!this.window.mayWait(event)) return true;
    if (this.windowTimer !== undefined) return false;
    const wait = this.lastSentAt + this.window.ms - performance.now();
    if (wait <= 0) return true;
    // Unref'd: a window still open at exit loses nothing (the events are in the log).
    this.windowTimer = setTimeout(this.send, wait).unref();
    return false;
  }

  /** Hands the waiting events, as one array, to every live follower. */
  private readonly send = (): void => {
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    if (this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    this.lastSentAt = performance.now();
    for (const follower of this.live) {
      // Each follower on its own (this may run in a timer): one that throws ends its stream, and
      // its client resumes from its last id; the others still get the window.
      try {
        follower.onLive(batch);
      } catch (err) {
        this.onError(err);
        follower.fail();
      }
    }
  };

  leave(follower: Follower): void {
    this.live.delete(follower);
    this.members.delete(follower);
    if (this.members.size === 0) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
      this.waiting = [];
      this.onIdle(this);
    }
  }
}

/**
 * One stream's position in a log. It catches up by reading pages from the
 * store (paced by its client: the next page is read only when the client's
 * buffer drained, so its memory is bounded whatever the log holds), joins
 * the feed's live set once it has read everything the feed has taken (sent,
 * or waiting in the live window),
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
          this.lastDeliveryHadRoom = true; // ready: it has room again (or closed, seen above)
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

  /**
   * Delivers the events of `batch` that are new to this follower (it may have read some of them
   * itself before joining), as one batch when the sink takes batches; stops at the stream's end
   * and, delivering one by one, when the client has no room (the rest is read from the log).
   * False once the stream is over.
   */
  private acceptBatch(batch: readonly StoredEvent[]): boolean {
    const position = this.feed.reader.position;
    let from = 0;
    while (from < batch.length && position(batch[from]) <= this.position) from++;
    if (from === batch.length) return true;
    if (!this.sink.deliverBatch) {
      for (let i = from; i < batch.length; i++) {
        if (!this.accept(batch[i])) return false;
        if (!this.lastDeliveryHadRoom) return true;
      }
      return true;
    }
    let to = from;
    while (to < batch.length && !this.isTerminal(batch[to])) to++;
    const terminal = to < batch.length;
    const events = from === 0 && !terminal ? batch : batch.slice(from, terminal ? to + 1 : to);
    this.position = position(events[events.length - 1]);
    this.lastDeliveryHadRoom = this.sink.deliverBatch(events);
    return terminal ? this.finish() : true;
  }

  /** Delivers one event if it is new to this follower; false once the stream is over. */
  private accept(event: StoredEvent): boolean {
    const position = this.feed.reader.position(event);
    if (position <= this.position) return true;
    this.position = position;
    this.lastDeliveryHadRoom = this.sink.deliver(event);
    return this.isTerminal(event) ? this.finish() : true;
  }

  /** The stream's last event went out: it ends. */
  private finish(): false {
    this.sink.end();
    this.close();
    return false;
  }

  /** A live window's events (the array is shared with the feed's other followers: never changed here). */
  onLive(batch: readonly StoredEvent[]): void {
    if (this.closed) return;
    if (this.sink.closed) return this.close();
    if (!this.acceptBatch(batch)) return;
    if (!this.lastDeliveryHadRoom) {
      // Too far behind for live delivery: read the rest from the log at the client's pace.
      this.feed.live.delete(this);
      void this.sink.ready().then(() => this.catchUp());
    }
  }

  /** Ends the stream after a delivery failed; the client resumes with its last id. */
  fail(): void {
    try {
      this.sink.end();
    } catch {
      // the stream is being dropped either way
    }
    this.close();
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
    private readonly window: LiveWindow = NO_WINDOW,
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
      feed = new Feed(reader, (f) => this.workerFeeds.get(workerPk) === f && this.workerFeeds.delete(workerPk), this.onError, this.window);
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
      this.globalFeed = new Feed(reader, (f) => this.globalFeed === f && (this.globalFeed = undefined), this.onError, this.window);
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
