/**
 * The serving side of a one-request stream (collectives, the server of asynchronous Local-SGD): wait for the first
 * whole frame, then hand it over. A malformed frame, or none within the deadline, abandons the stream.
 */
import type { Stream } from '@libp2p/interface';
import { chunksOf } from './libp2p-transport.js';
import { isWireError, type Frame, type FrameReader } from './wire.js';

export interface FirstFrameInit {
  /** How long to wait for the frame, ms. */
  timeoutMs: number;
  /** Why the stream is dropped when nothing came in time (for the log). */
  silence: string;
  /** Called once when the stream is abandoned, before it is aborted. */
  dropped: (why: string) => void;
}

/** Calls `onFrame` with the stream's first frame, read by `reader`; aborts the stream otherwise. */
export function onFirstFrame(stream: Stream, reader: FrameReader, init: FirstFrameInit, onFrame: (frame: Frame) => void): void {
  let done = false;
  const finish = (): void => {
    done = true;
    clearTimeout(timer);
    stream.removeEventListener('message', onMessage);
  };
  const abandon = (why: string): void => {
    if (done) return;
    finish();
    init.dropped(why);
    stream.abort(new Error(why));
  };
  const timer = setTimeout(() => abandon(init.silence), init.timeoutMs);
  const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    for (const chunk of chunksOf(event.data)) {
      if (done) return;
      const frames = reader.push(chunk);
      if (isWireError(frames)) return abandon(frames.detail);
      if (frames.length === 0) continue;
      finish();
      onFrame(frames[0]);
    }
  };
  stream.addEventListener('message', onMessage);
}
