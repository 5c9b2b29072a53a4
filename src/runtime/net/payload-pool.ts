/**
 * Memory for received payloads, handed back once their message has been applied (Transport.release): a peer that
 * receives one model-sized payload after another then reuses the same few buffers instead of asking the allocator,
 * the kernel (fresh pages, zeroed) and the garbage collector for tens of megabytes per exchange.
 */

/** Free buffers kept per size. */
const KEEP_PER_SIZE = 2;
/** Sizes kept at once (a run's messages have one or two: its codec's, and float32's). */
const KEEP_SIZES = 2;

export class PayloadPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Buffers handed out and not yet back: only those are taken back, each once. */
  private readonly out = new WeakSet<ArrayBuffer>();
  /** Buffers allocated so far: a few over a whole run when received payloads come back. */
  created = 0;

  /** A buffer of exactly `bytes` bytes (its content is whatever it held before). */
  take(bytes: number): Uint8Array {
    let buffer = this.free.get(bytes)?.pop();
    if (!buffer) {
      buffer = new ArrayBuffer(bytes);
      this.created++;
    }
    this.out.add(buffer);
    return new Uint8Array(buffer);
  }

  /** Takes back the buffer under a view of one it handed out; anything else is ignored, as is a second return. */
  give(view: ArrayBufferView): void {
    const buffer = view.buffer;
    if (!(buffer instanceof ArrayBuffer) || !this.out.has(buffer)) return;
    this.out.delete(buffer);
    const size = buffer.byteLength;
    if (!this.free.has(size) && this.free.size >= KEEP_SIZES) this.free.delete(this.free.keys().next().value as number);
    const list = this.free.get(size) ?? [];
    if (list.length < KEEP_PER_SIZE) list.push(buffer);
    this.free.set(size, list);
  }
}
