/**
 * Pulls (/gossamer/pull/1.0.0), how a late joiner gets the cluster's current parameters before its first step, one
 * stream each: the requester sends a propose frame (its header, count, timeout) and closes its side; the worker asked
 * answers with one payload frame of its current parameters (f32), or busy / abort(refused), and closes. The answer
 * is checked like an exchange's message (version, algorithm, layout, count, checksum, finite values); nothing is
 * modified on the answering side.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { ExchangeResult, MessageHeader, WorkerId } from '../transport.js';
import type { NetHost } from './net-host.js';
import { PULL_PROTOCOL } from './net-options.js';
import { PROPOSE_WAIT_MS, chunksOf, errorText, readAll, sendFrame, tellFor } from './stream-io.js';
import {
  ABORT_REASONS, FrameReader, MAX_HEADER_BYTES, WIRE_VERSION, decodeFrame, decodeMessage, encodeControl, encodeMessage, isWireError,
  type EncodedFrame, type Frame,
} from './wire.js';

/**
 * Asks worker `peer` for its current parameters (`count` values; `header` is this node's, whose algorithm and layout
 * the answer must match). Resolves with them, or why there were none; never rejects.
 */
export async function pull(t: NetHost, peer: WorkerId, header: MessageHeader, count: number, timeoutMs: number): Promise<ExchangeResult> {
  timeoutMs = Math.max(1, Math.round(timeoutMs)); // timers take whole milliseconds
  const fail = (reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid'): ExchangeResult => ({ ok: false, peer, reason });
  const info = t.byIndex.get(peer);
  if (t.closed || !info || peer === t.self) return fail('closed');
  let stream: Stream;
  try {
    stream = await t.node.dialProtocol(peerIdFromString(info.peerId), PULL_PROTOCOL, { signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
  } catch (error) {
    t.log('debug', `cannot pull from worker ${peer}: ${errorText(error)}`);
    return fail('closed');
  }
  // Listen before asking: the whole answer arrives before the answering side closes.
  const answer = readAll(stream, t.maxPayloadBytes + MAX_HEADER_BYTES, Math.max(1, timeoutMs));
  try {
    stream.send(encodeControl('propose', { ...header, codec: 'f32' }, { count, aux: Math.min(0xffffffff, Math.max(1, Math.round(timeoutMs))) }));
    await stream.close({ signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
  } catch (error) {
    stream.abort(new Error('pull abandoned'));
    answer.catch(() => {});
    t.log('debug', `pulling from worker ${peer} failed: ${errorText(error)}`);
    return fail('closed');
  }
  let bytes: Uint8Array;
  try {
    bytes = await answer;
  } catch (error) {
    t.log('debug', `pulling from worker ${peer} failed: ${errorText(error)}`);
    return fail(/timed out/.test(errorText(error)) ? 'timeout' : 'closed');
  }
  const frame = decodeFrame(bytes, { algorithm: header.algorithm, layoutHash: header.layoutHash, count, maxPayloadBytes: t.maxPayloadBytes });
  if (isWireError(frame)) {
    t.rejectFrame(peer, frame);
    return fail(tellFor(frame));
  }
  if (frame.kind === 'busy') return fail('busy');
  if (frame.kind === 'abort') return fail(ABORT_REASONS[frame.aux] === 'refused' ? 'refused' : 'invalid');
  const message = decodeMessage(frame);
  if (isWireError(message)) {
    t.rejectFrame(peer, message);
    return fail('invalid');
  }
  t.stats.bytesReceived += bytes.length;
  return { ok: true, peer, message, header: frame.header };
}

export function onPullStream(t: NetHost, stream: Stream, connection: Connection): void {
  const remote = connection.remotePeer.toString();
  const peer = t.byPeerId.get(remote);
  const reader = new FrameReader({ algorithm: t.opts.algorithm, layoutHash: t.opts.layoutHash, count: t.opts.messageLength, maxPayloadBytes: 0 });
  const own: MessageHeader = { version: WIRE_VERSION, algorithm: t.opts.algorithm ?? 'none', step: 0, layoutHash: t.opts.layoutHash ?? 'none', codec: 'f32' };
  let finished = false;
  const timer = setTimeout(() => finish(null), PROPOSE_WAIT_MS);
  /** Sends the answer (nothing: abandon the stream) and closes. */
  const finish = (answer: EncodedFrame | Uint8Array | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    stream.removeEventListener('message', onMessage);
    if (answer === null) return stream.abort(new Error('pull abandoned'));
    const frame = answer instanceof Uint8Array ? { header: answer, payload: new Uint8Array(0) } : answer;
    const signal = AbortSignal.timeout(t.maxTimeoutMs);
    sendFrame(stream, frame, t.chunkBytes, signal)
      .then(() => {
        t.stats.bytesSent += frame.header.length + frame.payload.length;
        return stream.close({ signal });
      })
      .catch((error) => {
        t.log('debug', `answering worker ${peer ?? remote}'s pull failed: ${errorText(error)}`);
        stream.abort(new Error('pull abandoned'));
      });
  };
  const answer = (f: Frame): void => {
    if (f.kind !== 'propose') {
      t.rejectFrame(peer ?? remote, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame in a pull` });
      return finish(encodeControl('abort', own, { aux: ABORT_REASONS.indexOf('invalid') }));
    }
    let reply: { header: MessageHeader; message: Float32Array } | null = null;
    try {
      reply = peer === undefined || t.closed ? null : (t.pullHandler?.(peer) ?? null);
    } catch (error) {
      t.log('warn', `pull handler failed: ${errorText(error)}`);
    }
    if (!reply) return finish(encodeControl('busy', f.header));
    try {
      finish(encodeMessage({ ...reply.header, codec: 'f32' }, reply.message, t.blockSize));
    } catch (error) {
      t.log('warn', `cannot send this node's parameters: ${errorText(error)}`);
      finish(encodeControl('abort', f.header, { aux: ABORT_REASONS.indexOf('invalid') }));
    }
  };
  const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    for (const chunk of chunksOf(event.data)) {
      if (finished) return;
      const frames = reader.push(chunk);
      if (isWireError(frames)) {
        t.rejectFrame(peer ?? remote, frames);
        return finish(encodeControl('abort', own, { aux: ABORT_REASONS.indexOf(tellFor(frames)) }));
      }
      if (frames.length > 0) return answer(frames[0]);
    }
  };
  stream.addEventListener('message', onMessage);
}
