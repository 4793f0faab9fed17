/**
 * Where FileStorage.syncAsync() runs its fdatasync: inline, on the event loop, or on libuv's
 * thread pool.
 *
 * Off by default (inlineFsyncMsMax 0: always the pool). In side-by-side runs on 2026-11-29 one
 * inline fdatasync took 92 ms on all three nodes at the same instant (the disk stalled every
 * process; etcd changed leaders in that run too): inline, that is a 92 ms stall of each event
 * loop, with no heartbeat out, which the pool would have avoided; and the gain below did not
 * show beyond noise in the cluster benchmark. It stays available for a disk known to be fast.
 *
 * Why inline. Handing an fdatasync to the pool and back costs two thread wake-ups (a futex to
 * wake a pool thread, an eventfd to wake the loop), and on a small VM a wake-up costs tens of
 * microseconds of CPU: a loopback ping-pong between two Node processes here takes 100 µs a
 * round trip, half of it CPU. A healthy disk syncs in 0.15-0.2 ms, during which a node at low
 * load has nothing else to do. Measured on this 2-vCPU machine, one client buying from the
 * leader of a 3-node cluster, fresh cluster per run, interleaved: 412, 481 and 539 purchases/s
 * with the pool, 543, 621 and 714 inline, and about 100 µs less CPU per purchase on each
 * follower. `npm run bench -- cluster --clients 1,16 --duration 15`, interleaved, showed less:
 * 1 client 410-473/s on the pool against 415-516 inline, 16 clients 1,680-2,071 against
 * 1,849-2,133 (the one client there buys through n1, leader or not); at 64 clients the two were
 * level within the runs' noise.
 *
 * Why not always. While an inline fdatasync runs, the node does nothing else: no heartbeat goes
 * out and no message is read. A slow disk (a busy device, a failing one, a large flush beside
 * it) may take tens of milliseconds or seconds, and a leader stalled that long misses its
 * heartbeats (issue 10: heartbeats stay independent of the proposal path). So an inline
 * fdatasync that takes longer than inlineMsMax sends the following ones to the pool for
 * poolHoldMs. A pool fdatasync slower than inlineMsMax (timed until its callback runs, so a
 * busy event loop counts too) extends the hold from its end: only once the pool has seen the
 * disk fast for poolHoldMs does one inline fdatasync try it again.
 *
 * What this cannot bound: the inline fdatasync that finds the disk slow, the first after the
 * node starts or after a quiet hold, stalls the loop for as long as it takes; it is not known
 * in advance. A disk that turns slow so stalls the loop once, and then not again while it
 * stays slow. Under load the loop itself is often busy for more than inlineMsMax, so a loaded
 * node mostly syncs on the pool, where the two placements measured level anyway.
 */
export class FsyncPlacement {
  /** Until this time (the caller's clock), fdatasyncs go to the pool. */
  private poolUntilMs = Number.NEGATIVE_INFINITY;
  private slowCount = 0;

  /**
   * @param inlineMsMax the longest inline fdatasync that keeps the next one inline; 0 puts
   *   every fdatasync on the pool.
   * @param poolHoldMs how long fdatasyncs stay on the pool after a slow inline one.
   */
  constructor(private readonly inlineMsMax: number, private readonly poolHoldMs: number) {}

  /** Whether no fdatasync ever runs inline (inlineMsMax 0). */
  get neverInline(): boolean {
    return this.inlineMsMax === 0;
  }

  /** Whether the fdatasync about to run at `nowMs` runs inline. */
  inline(nowMs: number): boolean {
    return this.inlineMsMax > 0 && nowMs >= this.poolUntilMs;
  }

  /**
   * Records an inline fdatasync that took `durationMs`, ending at `nowMs`; returns true when it
   * was slow, so that the following ones go to the pool.
   */
  noteInline(durationMs: number, nowMs: number): boolean {
    if (durationMs <= this.inlineMsMax) return false;
    this.poolUntilMs = nowMs + this.poolHoldMs;
    this.slowCount++;
    return true;
  }

  /** Records a pool fdatasync that took `durationMs`, ending at `nowMs`. */
  notePool(durationMs: number, nowMs: number): void {
    if (durationMs > this.inlineMsMax) {
      this.poolUntilMs = Math.max(this.poolUntilMs, nowMs + this.poolHoldMs);
    }
  }

  /** Inline fdatasyncs that were slow (each sent the following ones to the pool). */
  get slowInlineCount(): number {
    return this.slowCount;
  }
}
