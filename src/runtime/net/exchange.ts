/**
 * Exchanges (/gossamer/exchange/1.0.0), one stream each, frames of wire.ts:
 *
 *   proposer                                  acceptor
 *   propose (header, count, timeout)    →
 *                                       ←     busy | abort(refused)       (end)
 *                                       ←     accept (header) + payload   (its message)
 *   payload (its message)               →
 *                                             all received and valid: commit, then
 *                                       ←     done
 *   all received + done: resolves ok
 *
 * The two payloads travel at the same time, on the stream, or on the bulk lane between the two nodes (lane.ts) when
 * the proposer's frame is large and it has a lane to the acceptor: its propose then carries a lane id, under which its
 * payload comes on the lane, and the accept says whether the acceptor's comes there too (the id) or on the stream (0).
 * Such an exchange opens no stream at all: its control frames go on the lane as well (lane-conversation.ts), and the
 * acceptor answers there, payload included.
 * Each side awaits a lane payload before it announces it (propose, accept), so none arrives unawaited; the lane being
 * another connection, the acceptor's payload may come before its accept or after its done. Each side applies the
 * peer's message only once all of it has arrived and been validated (checksum, algorithm, layout, size, finite
 * values); any failure before that — a bad frame, a closed stream or lane, a deadline (the proposer's timeout, which
 * it sends to the acceptor) — resolves the proposal with a reason or calls the handler's abort, and parameters stay
 * as they were. Nothing here throws into the caller:
 * errors from the network or from peers are logged and counted.
 */
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { ExchangeResult, MessageHeader, WorkerId } from '../transport.js';
import type { NetHost } from './net-host.js';
import { EXCHANGE_PROTOCOL } from './net-options.js';
import { isLaneId, laneTag, type Lane } from './lane.js';
import { LaneConversation } from './lane-conversation.js';
import { PROPOSE_WAIT_MS, chunksOf, count, errorText, sendFrame, tellFor, type ExchangeStream } from './stream-io.js';
import {
  ABORT_REASONS, FrameReader, decodeMessage, encodeControl, encodeMessage, isWireError, laneIdOf, withChecksum, type AbortReason, type EncodedFrame, type Frame,
  type WireError,
} from './wire.js';

/** Extra time an acceptor grants over the proposer's timeout. */
const ACCEPT_GRACE_MS = 1_000;

/** Proposes an exchange to worker `peer`; resolves with its message or why there was none; never rejects. */
export async function propose(t: NetHost, peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
  t.stats.proposed++;
  let result: ExchangeResult;
  try {
    result = await proposeInner(t, peer, header, message, timeoutMs);
  } catch (error) {
    t.log('warn', `exchange with worker ${peer} failed: ${errorText(error)}`, { peer });
    result = { ok: false, peer, reason: 'closed' };
  }
  if (result.ok) t.stats.completed++;
  else count(t.stats.failed, result.reason);
  return result;
}

function proposeInner(t: NetHost, peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
  const fail = (reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid'): ExchangeResult => ({ ok: false, peer, reason });
  const info = t.byIndex.get(peer);
  if (t.closed || !info || peer === t.self) return Promise.resolve(fail('closed'));
  if (t.codec) header = { ...header, codec: t.codec };
  const lanes = t.lanes;
  let frame: EncodedFrame;
  try {
    // (encoded without its checksum while a lane may take it: the lane authenticates its payloads)
    frame = encodeMessage(header, message, t.blockSize, !lanes);
  } catch (error) {
    t.log('warn', `cannot send this node's message: ${errorText(error)}`);
    return Promise.resolve(fail('invalid'));
  }
  const controller = new AbortController();
  const signal = controller.signal;
  const lane = lanes && frame.header.length + frame.payload.length >= lanes.minBytes ? lanes.lane(info.peerId) : null;
  const laneId = lane && lanes ? lanes.newId() : 0;
  if (lanes && !lane) frame = withChecksum(frame);
  return new Promise<ExchangeResult>((resolve) => {
    let stream: ExchangeStream | null = null;
    let settled = false;
    let received: { header: MessageHeader; message: Float32Array } | null = null;
    let accepted = false;
    /** The acceptor's payload comes on the lane; `held`: it came before its accept. */
    let replyOnLane = false;
    let held: Frame | null = null;
    /** The acceptor's done came, ahead of its payload on the lane (another connection). */
    let done = false;
    const timer = setTimeout(() => finish(fail('timeout')), Math.max(1, timeoutMs));
    const cancel = (reason: string): void => finish(fail(reason === 'timeout' ? 'timeout' : 'closed'));
    t.live.add(cancel);
    const finish = (result: ExchangeResult, tell?: AbortReason): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      t.live.delete(cancel);
      controller.abort();
      if (laneId) lanes?.unexpect(info.peerId, laneTag(laneId, 'acceptor'));
      if (stream) {
        stream.removeEventListener('message', onMessage);
        stream.removeEventListener('close', onClose);
        stream.removeEventListener('end', onClose);
        if (result.ok) {
          closeWithin(stream, 5000, 'close timed out');
        } else if (tell) {
          try {
            stream.send(encodeControl('abort', header, { aux: ABORT_REASONS.indexOf(tell) }));
            closeWithin(stream, 1000, 'aborted');
          } catch {
            stream.abort(new Error(`exchange abandoned: ${tell}`));
          }
        } else {
          stream.abort(new Error(`exchange abandoned: ${result.ok ? '' : result.reason}`));
        }
      }
      resolve(result);
    };
    const expect = { algorithm: header.algorithm, layoutHash: header.layoutHash, count: message.length, maxPayloadBytes: t.maxPayloadBytes };
    const reader = new FrameReader(expect);
    const onPayload = (f: Frame): void => {
      const m = decoded(t, f);
      if (isWireError(m)) {
        t.rejectFrame(peer, m);
        return finish(fail('invalid'), 'invalid');
      }
      t.stats.bytesReceived += f.headerLength + f.payloadLength;
      if (replyOnLane) lanes?.count('received');
      received = { header: f.header, message: m };
      if (done) finish({ ok: true, peer, message: received.message, header: received.header });
    };
    const onLane = (r: Frame | WireError | 'closed'): void => {
      if (settled) return;
      if (r === 'closed') return finish(fail('closed'));
      if (isWireError(r)) {
        t.rejectFrame(peer, r);
        const tell = tellFor(r);
        return finish(fail(tell), tell);
      }
      if (!accepted) held = r;
      else if (replyOnLane && !received) onPayload(r);
    };
    if (laneId) lanes?.expect(info.peerId, laneTag(laneId, 'acceptor'), { expect, done: onLane });
    const onFrame = (f: Frame): void => {
      switch (f.kind) {
        case 'busy':
          return finish(fail('busy'));
        case 'abort': {
          const why = ABORT_REASONS[f.aux];
          return finish(fail(why === 'refused' ? 'refused' : why === 'invalid' ? 'invalid' : why === 'busy' ? 'busy' : 'closed'));
        }
        case 'accept': {
          // (the acceptor's payload on the lane: only under this exchange's id, and only if announced)
          if (accepted || (laneIdOf(f) !== 0 && laneIdOf(f) !== laneId) || (held && laneIdOf(f) === 0)) break;
          accepted = true;
          replyOnLane = laneIdOf(f) !== 0;
          if (!replyOnLane && laneId) lanes?.unexpect(info.peerId, laneTag(laneId, 'acceptor'));
          // (no lane: the exchange is on a libp2p stream)
          const sending = lane ? lane.send(laneTag(laneId, 'proposer'), frame, signal) : sendFrame(stream as Stream, frame, t.chunkBytes, signal);
          void sending.then(
            () => {
              t.stats.bytesSent += frame.header.length + frame.payload.length;
              if (lane) lanes?.count('sent');
            },
            (error) => {
              if (!settled) t.log('debug', `sending to worker ${peer} failed: ${errorText(error)}`);
              finish(fail('closed'));
            },
          );
          if (held) onPayload(held);
          return;
        }
        case 'payload':
          if (!accepted || received || replyOnLane) break;
          return onPayload(f);
        case 'done':
          if (!received && !(replyOnLane && !done)) break;
          done = true;
          if (received) finish({ ok: true, peer, message: received.message, header: received.header });
          return;
        default:
          break;
      }
      t.rejectFrame(peer, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame` });
      finish(fail('invalid'), 'invalid');
    };
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      for (const chunk of chunksOf(event.data)) {
        if (settled) return;
        const frames = reader.push(chunk);
        if (isWireError(frames)) {
          t.rejectFrame(peer, frames);
          const tell = tellFor(frames);
          return finish(fail(tell), tell);
        }
        for (const f of frames) if (!settled) onFrame(f);
      }
    };
    // (after done, the acceptor's end of the stream is expected: its payload may still be on the lane)
    const onClose = (): void => {
      if (!done) finish(fail('closed'));
    };
    const begin = (s: ExchangeStream): void => {
      stream = s;
      s.addEventListener('message', onMessage);
      s.addEventListener('close', onClose);
      s.addEventListener('end', onClose);
      s.send(encodeControl('propose', header, { count: message.length, aux: Math.min(0xffffffff, Math.max(1, Math.round(timeoutMs))), lane: laneId }));
    };
    if (lane && lanes) {
      try {
        begin(lanes.converse(lane, laneId));
      } catch {
        finish(fail('closed'));
      }
      return;
    }
    t.node
      .dialProtocol(peerIdFromString(info.peerId), EXCHANGE_PROTOCOL, { signal, negotiateFully: false })
      .then((s) => {
        if (settled) {
          s.abort(new Error('exchange abandoned'));
          return;
        }
        begin(s);
      })
      .catch((error) => {
        if (!settled) t.log('debug', `cannot reach worker ${peer}: ${errorText(error)}`);
        finish(fail('closed'));
      });
  });
}

// -------------------------------------------------------------------------------------------------------------
// Exchanges: acceptor side

/** Serves one inbound exchange (the acceptor side), on a stream from peer `remote` or on a lane. */
export function onExchangeStream(t: NetHost, stream: ExchangeStream, remote: string): void {
  const peer = t.byPeerId.get(remote);
  const expect = { algorithm: t.opts.algorithm, layoutHash: t.opts.layoutHash, count: t.opts.messageLength, maxPayloadBytes: t.maxPayloadBytes };
  const reader = new FrameReader(expect);
  const controller = new AbortController();
  let phase: 'waiting' | 'accepted' | 'finished' = 'waiting';
  const isFinished = (): boolean => phase === 'finished';
  let proposal: Frame | null = null;
  let received: { header: MessageHeader; message: Float32Array } | null = null;
  let sent = false;
  /** The proposer's lane id (0: its payload comes on the stream). */
  let laneId = 0;
  let timer = setTimeout(() => end('timeout'), PROPOSE_WAIT_MS);
  const cancel = (reason: string): void => end(reason);
  t.live.add(cancel);

  /** Ends the exchange without a commit: tells the proposer (when a reason is given) and aborts if accepted. */
  const end = (reason: string, tell?: AbortReason | 'busy'): void => {
    if (phase === 'finished') return;
    const wasAccepted = phase === 'accepted';
    phase = 'finished';
    cleanup();
    if (tell) {
      try {
        const h = proposal?.header ?? { version: 1, algorithm: 'none', step: 0, layoutHash: 'none', codec: 'f32' as const };
        stream.send(tell === 'busy' ? encodeControl('busy', h) : encodeControl('abort', h, { aux: ABORT_REASONS.indexOf(tell) }));
        closeWithin(stream, 1000, 'aborted');
      } catch {
        stream.abort(new Error(reason));
      }
    } else {
      stream.abort(new Error(reason));
    }
    if (wasAccepted && peer !== undefined) {
      count(t.stats.aborted, reason.split(':')[0]);
      try {
        t.handler?.abort(peer, reason);
      } catch (error) {
        t.log('warn', `abort handler failed: ${errorText(error)}`);
      }
    }
  };
  const cleanup = (): void => {
    clearTimeout(timer);
    t.live.delete(cancel);
    controller.abort();
    if (laneId) t.lanes?.unexpect(remote, laneTag(laneId, 'proposer'));
    stream.removeEventListener('message', onMessage);
    stream.removeEventListener('close', onClose);
    stream.removeEventListener('end', onClose);
  };
  const maybeCommit = (): void => {
    if (phase !== 'accepted' || !received || !sent || peer === undefined) return;
    phase = 'finished';
    cleanup();
    t.stats.committed++;
    try {
      t.handler?.commit(peer, received.header, received.message);
    } catch (error) {
      t.log('warn', `commit handler failed: ${errorText(error)}`);
    }
    try {
      stream.send(encodeControl('done', received.header));
      closeWithin(stream, 5000, 'close timed out');
    } catch {
      stream.abort(new Error('closed'));
    }
  };
  const onPropose = (f: Frame): void => {
    proposal = f;
    if (peer === undefined) {
      t.log('debug', `proposal from unknown peer ${remote}: busy`);
      return end('unknown peer', 'busy');
    }
    if (laneIdOf(f) !== 0 && (!t.lanes || !isLaneId(laneIdOf(f)))) {
      t.rejectFrame(peer, { ok: false, reason: 'field', detail: `lane id ${laneIdOf(f)}${t.lanes ? '' : ' (this node has no lane)'}` });
      return end('invalid: lane id', 'invalid');
    }
    const handler = t.handler;
    if (!handler || t.closed) return end('no handler', 'busy');
    let reply: { header: MessageHeader; message: Float32Array } | null = null;
    try {
      reply = handler.accept(peer, f.header);
    } catch (error) {
      t.log('warn', `accept handler failed: ${errorText(error)}`);
      reply = null;
    }
    if (!reply) return end('busy', 'busy');
    if (t.codec) reply = { header: { ...reply.header, codec: t.codec }, message: reply.message };
    phase = 'accepted';
    t.stats.accepted++;
    if (reply.header.algorithm !== f.header.algorithm || reply.header.layoutHash !== f.header.layoutHash || reply.message.length !== f.count) {
      t.log('warn', `refusing worker ${peer}'s proposal: it sends ${f.header.algorithm}/${f.count} elements, this node ${reply.header.algorithm}/${reply.message.length}`);
      return end('refused: mismatch', 'refused');
    }
    let frame: EncodedFrame;
    try {
      frame = encodeMessage(reply.header, reply.message, t.blockSize, !(t.lanes && laneIdOf(f) !== 0));
    } catch (error) {
      t.log('warn', `cannot send this node's message: ${errorText(error)}`);
      return end('invalid: local message', 'invalid');
    }
    clearTimeout(timer);
    const deadline = Math.min(t.maxTimeoutMs, Math.max(1, f.aux)) + ACCEPT_GRACE_MS;
    timer = setTimeout(() => end('timeout'), deadline);
    let back: Lane | null = null;
    if (t.lanes && laneIdOf(f) !== 0) {
      if (!t.lanes.expect(remote, laneTag(laneIdOf(f), 'proposer'), { expect, done: onLane })) {
        t.rejectFrame(peer, { ok: false, reason: 'field', detail: `lane id ${laneIdOf(f)} is already in use` });
        return end('invalid: lane id', 'invalid');
      }
      laneId = laneIdOf(f);
      // (proposed on a lane: the payload answered on one whatever its size — the lane the proposer dialled when
      // open, which it reads straight into the payload's buffer, else the proposal's)
      if (stream instanceof LaneConversation) back = t.lanes.lane(remote) ?? stream.lane;
      else if (frame.header.length + frame.payload.length >= t.lanes.minBytes) back = t.lanes.lane(remote);
      if (!back) frame = withChecksum(frame);
    }
    try {
      stream.send(encodeControl('accept', reply.header, { count: reply.message.length, lane: back ? laneId : 0 }));
    } catch {
      return end('closed');
    }
    // (no lane back: the exchange is on a libp2p stream, a lane conversation having its lane)
    (back ? back.send(laneTag(laneId, 'acceptor'), frame, controller.signal) : sendFrame(stream as Stream, frame, t.chunkBytes, controller.signal)).then(
      () => {
        t.stats.bytesSent += frame.header.length + frame.payload.length;
        if (back) t.lanes?.count('sent');
        sent = true;
        maybeCommit();
      },
      (error) => {
        if (phase === 'accepted') t.log('debug', `sending to worker ${peer} failed: ${errorText(error)}`);
        end('closed');
      },
    );
  };
  const onPayload = (f: Frame): void => {
    const m = decoded(t, f);
    if (isWireError(m)) {
      t.rejectFrame(peer ?? remote, m);
      return end(`invalid: ${m.reason}`, 'invalid');
    }
    t.stats.bytesReceived += f.headerLength + f.payloadLength;
    if (laneId) t.lanes?.count('received');
    received = { header: f.header, message: m };
    maybeCommit();
  };
  const onLane = (r: Frame | WireError | 'closed'): void => {
    if (phase !== 'accepted' || received) return;
    if (r === 'closed') return end('closed: lane', 'closed');
    if (!isWireError(r)) return onPayload(r);
    t.rejectFrame(peer ?? remote, r);
    end(`${tellFor(r)}: ${r.reason}`, tellFor(r));
  };
  const onFrame = (f: Frame): void => {
    if (phase === 'waiting' && f.kind === 'propose') return onPropose(f);
    if (phase === 'accepted' && f.kind === 'payload' && !received && laneId === 0) return onPayload(f);
    if (f.kind === 'abort') return end(`peer abandoned: ${ABORT_REASONS[f.aux]}`);
    t.rejectFrame(peer ?? remote, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame` });
    end('invalid: unexpected frame', 'invalid');
  };
  const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    for (const chunk of chunksOf(event.data)) {
      if (phase === 'finished') return;
      const frames = reader.push(chunk);
      if (isWireError(frames)) {
        t.rejectFrame(peer ?? remote, frames);
        return end(`${tellFor(frames)}: ${frames.reason}`, tellFor(frames));
      }
      for (const f of frames) if (!isFinished()) onFrame(f);
    }
  };
  const onClose = (): void => end('closed');
  stream.addEventListener('message', onMessage);
  stream.addEventListener('close', onClose);
  stream.addEventListener('end', onClose);
}

/** A payload frame's message; the frame's buffer goes back to the pool at once unless the message is a view on it. */
function decoded(t: NetHost, f: Frame): Float32Array | WireError {
  const m = decodeMessage(f);
  if (isWireError(m) || m.buffer !== f.payload.buffer) t.payloads.give(f.payload);
  return m;
}

/**
 * Closes an exchange's stream: a libp2p stream waits for the peer's end, and is aborted with `why` after `ms`; a lane
 * conversation closes at once (no timer, no signal to make).
 */
function closeWithin(stream: ExchangeStream, ms: number, why: string): void {
  if (stream instanceof LaneConversation) return void stream.close();
  void stream.close({ signal: AbortSignal.timeout(ms) }).catch(() => stream.abort(new Error(why)));
}
