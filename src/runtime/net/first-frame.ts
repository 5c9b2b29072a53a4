/**
 * The serving side of a one-request stream (collectives, the server of asynchronous Local-SGD): wait for the
 * request's whole frames (one, or as many as its first frame says), then hand them over. A malformed frame (or more
 * frames than the request has, when refused), or none within the deadline, abandons the stream.
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
  /** Abandon a stream that sends more frames than its request has (default: they are ignored). */
  refuseExtra?: boolean;
}

/** Calls `onFrame` with the stream's first frame, read by `reader`; aborts the stream otherwise. */
export function onFirstFrame(stream: Stream, reader: FrameReader, init: FirstFrameInit, onFrame: (frame: Frame) => void): void {
  onRequest(stream, reader, init, () => 1, (frames) => onFrame(frames[0]));
}

/** Calls `onFrames` with the request's frames, as many as `count` says from the first; aborts the stream otherwise. */
export function onRequest(stream: Stream, reader: FrameReader, init: FirstFrameInit, count: (first: Frame) => number, onFrames: (frames: Frame[]) => void): void {
  const received: Frame[] = [];
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
      received.push(...frames);
      if (received.length === 0) continue;
      const wanted = count(received[0]);
      if (received.length > wanted && init.refuseExtra) return abandon(`${received.length} frames for a request of ${wanted}`);
      if (received.length < wanted) continue;
      finish();
      onFrames(received.slice(0, wanted));
    }
  };
  stream.addEventListener('message', onMessage);
}
