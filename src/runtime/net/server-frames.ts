/**
 * The frames of a request to the server of asynchronous Local-SGD (/gossamer/server/1.1.0, net/server.ts), from a
 * member to the holder, with the versioned, checksummed header of wire.ts:
 *
 *   1. metadata   payload frame, codec f32, 2 elements: the round's inner steps, the worker's speed (steps/s); its
 *                 step field is the round (0: a pull, which has no second frame)
 *   2. Δ          payload frame in the run's codec (i8, i4: blocks of DEFAULT_BLOCK_SIZE), the model's length, the
 *                 same round: the pseudo-gradient, encoded as the pusher's ContributionEncoder rounded it (a vector
 *                 already rounded by a codec encodes to the very same codes, so the holder applies what the pusher's
 *                 error feedback counted as sent)
 *
 * Keeping the metadata apart lets the pseudo-gradient travel under a lossy codec while the steps and speed arrive
 * exact. parsePushRequest checks everything a hostile member could get wrong before anything is applied.
 */
import { DEFAULT_BLOCK_SIZE, blockwise, payloadBytes, type Codec } from '../../core/codecs.js';
import type { MessageHeader } from '../transport.js';
import { decodeMessage, encodeMessage, isWireError, type EncodedFrame, type Frame } from './wire.js';

/** Rounds are counted exactly in the float32 replicas of the server's state: none above 2^24. */
export const MAX_ROUND = 2 ** 24;
/** Inner steps of one round, at most. */
export const MAX_ROUND_STEPS = 2 ** 24;

/** A member's request, parsed: a pull (delta null, round 0) or a push. */
export interface PushRequest {
  round: number;
  steps: number;
  speed: number;
  delta: Float32Array | null;
}

/** What the holder insists on: the model's length and the run's codec. */
export interface PushExpectation {
  dim: number;
  codec: Codec;
}

/** The frames of a push (delta given) or a pull (null, round 0). header: the run's header at a step, codec aside. */
export function encodePushRequest(
  header: (step: number) => MessageHeader, codec: Codec, req: { round: number; steps: number; speed: number }, delta: Float32Array | null,
): EncodedFrame[] {
  const meta = encodeMessage({ ...header(req.round), codec: 'f32' }, Float32Array.of(req.steps, req.speed));
  if (delta === null) return [meta];
  return [meta, encodeMessage({ ...header(req.round), codec }, delta, DEFAULT_BLOCK_SIZE)];
}

/** Frames a request has, judged from its first (the metadata): 1 for a pull, 2 for a push. */
export function requestFrames(first: Frame): number {
  return first.kind === 'payload' && first.header.step > 0 ? 2 : 1;
}

/** The largest payload of a request's frames, bytes (the frame reader's limit). */
export function maxRequestPayload(e: PushExpectation): number {
  return Math.max(8, payloadBytes(e.codec, e.dim, DEFAULT_BLOCK_SIZE));
}

/** Bytes a request's frames take on the wire, headers included. */
export function requestBytes(frames: readonly EncodedFrame[]): number {
  return frames.reduce((sum, f) => sum + f.header.length + f.payload.length, 0);
}

/** A request's frames checked and decoded; a string says why they are refused. */
export function parsePushRequest(frames: readonly Frame[], e: PushExpectation): PushRequest | string {
  const [meta, body] = frames;
  if (!meta) return 'no frame';
  if (meta.kind !== 'payload') return `a ${meta.kind} frame, not a request`;
  if (meta.header.codec !== 'f32' || meta.count !== 2) return `metadata of ${meta.count} ${meta.header.codec} values, not 2 f32`;
  const round = meta.header.step;
  if (round > MAX_ROUND) return `round ${round} above ${MAX_ROUND}`;
  const values = decodeMessage(meta);
  if (isWireError(values)) return `metadata: ${values.detail}`;
  const [steps, speed] = values;
  if (!(speed >= 0)) return `speed ${speed}`;
  if (frames.length !== (round === 0 ? 1 : 2)) return `${frames.length} frames for a ${round === 0 ? 'pull' : 'push'}`;
  if (round === 0) return { round, steps: 0, speed, delta: null };
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= MAX_ROUND_STEPS)) return `${steps} inner steps`;
  if (body.kind !== 'payload') return `a ${body.kind} frame, not a pseudo-gradient`;
  if (body.header.step !== round) return `a pseudo-gradient of round ${body.header.step} after the metadata of round ${round}`;
  if (body.header.codec !== e.codec) return `a pseudo-gradient in ${body.header.codec}, the run's codec is ${e.codec}`;
  if (body.count !== e.dim) return `a pseudo-gradient of ${body.count} values, the model has ${e.dim}`;
  if (blockwise(e.codec) && body.blockSize !== DEFAULT_BLOCK_SIZE) return `blocks of ${body.blockSize}, not ${DEFAULT_BLOCK_SIZE}`;
  const delta = decodeMessage(body);
  if (isWireError(delta)) return `pseudo-gradient: ${delta.detail}`;
  return { round, steps, speed, delta };
}
