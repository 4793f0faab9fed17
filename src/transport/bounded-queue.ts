/**
 * A FIFO ring buffer with a fixed capacity that drops its OLDEST item when an item is pushed
 * into a full queue. The transports keep one per peer: Raft tolerates loss and the newest
 * messages (the latest term, commit index and heartbeat) are the ones worth delivering, so when
 * a peer falls behind we shed the stale head of the queue rather than refuse the fresh tail.
 *
 * Invariant: 0 <= length <= capacity; items sit at slots [head, head + length) modulo capacity.
 */
export class BoundedQueue<T> {
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    }
    this.slots = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  /** Appends `item`; returns true when the oldest item had to be dropped to make room. */
  push(item: T): boolean {
    if (this.count === this.capacity) {
      this.slots[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return true;
    }
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return false;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items: T[] = [];
    while (this.count > 0) items.push(this.shift() as T);
    return items;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
