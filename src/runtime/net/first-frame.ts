/**
 * The serving side of a one-request stream (collectives, the server of asynchronous Local-SGD): wait for the
 * request's whole frames (one, or as many as its first frame says), then hand them over. A malformed frame, or none
 * within the deadline, abandons the stream; so does, for a request that is the whole stream, a stream that ends
 * with other than exactly its frames.
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
  /**
   * The request is the whole stream: its frames are handed over once the sender has closed its side, and must be
   * exactly as many as it has (default: handed over as soon as they are in; anything after them is not read).
   */
  wholeStream?: boolean;
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
    stream.removeEventListener('end', onEnd);
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
      if (init.wholeStream) {
        if (received.length > wanted) return abandon(`${received.length} frames for a request of ${wanted}`);
        continue;
      }
      if (received.length < wanted) continue;
      finish();
      onFrames(received.slice(0, wanted));
    }
  };
  const onEnd = (): void => {
    if (done) return;
    if (!reader.idle) return abandon('the stream ended inside a frame');
    if (received.length === 0) return abandon(init.silence);
    const wanted = count(received[0]);
    if (received.length !== wanted) return abandon(`${received.length} frames for a request of ${wanted}`);
    finish();
    onFrames(received);
  };
  stream.addEventListener('message', onMessage);
  if (init.wholeStream) stream.addEventListener('end', onEnd);
}
