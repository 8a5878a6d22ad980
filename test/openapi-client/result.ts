/** What the client program reports (kept apart from client.ts so the test can name it without the generated types). */
export interface ClientRun {
  workerId: string;
  location: string | null;
  role: string | null;
  profile: string | null;
  /** The input's index and event id, as numbers and strings (the types say they are always there). */
  transcriptSequence: number;
  eventId: string;
  replayedHeader: string | null;
  replayedSameAnswer: boolean;
  /** Worker ids in the order paging with next_cursor (two at a time) gave them. */
  pagedWorkerIds: string[];
  pages: number;
  notModifiedStatus: number;
  /** The first event read from the worker's stream, resumed after evt-0. */
  firstEvent: { kind: string; eventId: string; content: string };
  /** Typed errors: what the program made of each, by narrowing on `error`. */
  errors: string[];
}
