import { parseTopicPath, topicMatches } from './topic.js';

/** One event as it goes out on WebSocket and SSE: key and message (Buildbot's `{k, m}`). */
export interface BusEvent {
  k: string;
  m: unknown;
}

/** Most subscription paths one consumer may hold at a time. */
export const MAX_FILTERS_PER_CONSUMER = 64;

/**
 * A consumer's set of subscription paths. Events whose key matches any path are handed to
 * `deliver`, in publication order.
 */
export class Consumer {
  private readonly filters = new Map<string, string[]>();

  constructor(
    private readonly bus: EventBus,
    readonly deliver: (event: BusEvent) => void,
  ) {}

  /** Add a path; false when the path is malformed or the consumer holds too many. */
  add(path: string): boolean {
    const segments = parseTopicPath(path);
    if (!segments) return false;
    const norm = segments.join('/');
    if (!this.filters.has(norm) && this.filters.size >= MAX_FILTERS_PER_CONSUMER) return false;
    this.filters.set(norm, segments);
    return true;
  }

  /** Remove a path; false when it was not subscribed. */
  remove(path: string): boolean {
    const segments = parseTopicPath(path);
    return segments ? this.filters.delete(segments.join('/')) : false;
  }

  paths(): string[] {
    return [...this.filters.keys()];
  }

  matches(key: readonly string[]): boolean {
    for (const f of this.filters.values()) if (topicMatches(f, key)) return true;
    return false;
  }

  close(): void {
    this.bus.detach(this);
  }
}

/** Publish/subscribe by `/`-joined keys with `*` wildcards (see topic.ts). */
export class EventBus {
  private readonly consumers = new Set<Consumer>();

  consumer(deliver: (event: BusEvent) => void): Consumer {
    const c = new Consumer(this, deliver);
    this.consumers.add(c);
    return c;
  }

  detach(c: Consumer): void {
    this.consumers.delete(c);
  }

  get size(): number {
    return this.consumers.size;
  }

  publish(k: string, m: unknown): void {
    const key = k.split('/');
    const event = { k, m };
    for (const c of this.consumers) if (c.matches(key)) c.deliver(event);
  }
}
