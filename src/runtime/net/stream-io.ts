/**
 * Moving frames and small messages over libp2p streams, shared by the transport's protocols and the services built on
 * it (collectives, the server of asynchronous Local-SGD).
 */
import type { Stream } from '@libp2p/interface';
import type { EncodedFrame, WireError } from './wire.js';

/** What exchange.ts uses of a libp2p stream, and a lane conversation (lane-conversation.ts) provides. */
export interface ExchangeStream {
  send(data: Uint8Array): boolean;
  close(options?: { signal?: AbortSignal }): Promise<void>;
  abort(error: Error): void;
  addEventListener(type: 'message', listener: (event: { data: Uint8Array | Iterable<Uint8Array> }) => void): void;
  addEventListener(type: 'close' | 'end', listener: () => void): void;
  removeEventListener(type: 'message', listener: (event: { data: Uint8Array | Iterable<Uint8Array> }) => void): void;
  removeEventListener(type: 'close' | 'end', listener: () => void): void;
}

/** How long an acceptor waits for the propose frame of a new stream. */
export const PROPOSE_WAIT_MS = 10_000;

export function chunksOf(data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A mismatch (another algorithm, model, size or wire version) is a refusal; anything else an invalid message. */
export function tellFor(error: WireError): 'refused' | 'invalid' {
  return MISMATCHES.has(error.reason) ? 'refused' : 'invalid';
}
export const MISMATCHES = new Set<WireError['reason']>(['version', 'algorithm', 'layout', 'count']);

export function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Sends a frame on a stream in chunks, waiting for the stream to drain whenever it asks to. */
export async function sendFrame(stream: Stream, frame: EncodedFrame, chunkBytes: number, signal: AbortSignal): Promise<void> {
  if (!stream.send(frame.header)) await stream.onDrain({ signal });
  const p = frame.payload;
  for (let o = 0; o < p.length; o += chunkBytes) {
    if (!stream.send(p.subarray(o, Math.min(p.length, o + chunkBytes)))) await stream.onDrain({ signal });
  }
}

/** Reads a whole (small) stream up to maxBytes. */
export function readAll(stream: Stream, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    const timer = setTimeout(() => done(new Error('timed out')), timeoutMs);
    const done = (error?: Error): void => {
      clearTimeout(timer);
      stream.removeEventListener('message', onMessage);
      stream.removeEventListener('end', onEnd);
      stream.removeEventListener('close', onClose);
      if (error) {
        stream.abort(error);
        reject(error);
        return;
      }
      void stream.close().catch(() => {});
      const out = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      resolve(out);
    };
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      for (const chunk of chunksOf(event.data)) {
        size += chunk.length;
        if (size > maxBytes) return done(new Error(`message over ${maxBytes} bytes`));
        parts.push(chunk.slice());
      }
    };
    const onEnd = (): void => done();
    const onClose = (event: { error?: Error }): void => done(event.error);
    stream.addEventListener('message', onMessage);
    stream.addEventListener('end', onEnd);
    stream.addEventListener('close', onClose);
  });
}
