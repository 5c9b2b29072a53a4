/**
 * The server of asynchronous Local-SGD among network peers: held by the live worker of lowest index (in each
 * worker's own view), replicated to the next live one, taken over by it when the holder leaves. Two protocols, every
 * frame with the versioned, checksummed header of the pairwise protocol (wire.ts), checked the same way:
 *
 *   /gossamer/server/1.1.0          member → holder   two payload frames (step = round): steps ‖ speed in float32, then Δ in
 *                                                     the run's codec (server-frames.ts); a pull: the first alone, round 0
 *                                   holder → member   payload (step = pushes applied): θ ‖ next inner steps, float32
 *                                                     |  abort (refused: not the holder; invalid: a malformed request)
 *   /gossamer/server-replica/1.0.0  holder → backup   payload (step = pushes applied): the server's state, packed
 *                                   backup → holder   done
 *
 * The holder applies the pushes one at a time, in the order they arrive; after applying one it sends its whole state
 * to its backup and waits for the acknowledgement before it answers (and reports the push applied), so that a push
 * answered is in the backup's replica. A member whose holder does not answer (it left, or it does not hold the server
 * in its own view: abort 'refused') asks again, the holder of the moment, until it gets an answer. A worker that comes
 * to hold the server starts from the last replica it received (the initial model if none): a push the old holder had
 * applied and replicated is a duplicate by its (worker, round) there, answered without being applied again. The
 * state travels as float32 (its counts are exact up to 2^24). A request is its stream: exactly its frames, handed
 * over when the sender closes its side, each within the size the codec gives the model; it is checked whole before
 * anything is applied, a malformed one refused (logged), and the state stays as it was.
 *
 * A resumed worker (`--resume`) starts with the server's state its checkpoint recorded (snapshot(): the role it
 * held, or the last replica it received) as its replica: the holder of the resumed cluster takes over from it, with
 * its momentum and its record of the pushes applied. A holder that sees a worker of lower index (re)join sends it its
 * state at once, as a replica: that worker holds the server from then on, and goes on from there.
 *
 * Known limit: views of who is live may differ for a moment; a worker that does not see the holder may take the
 * role meanwhile (two holders then apply different pushes), as a worker cut off from the others would.
 */
import type { Stream } from '@libp2p/interface';
import type { SavedState, ServerCapability, ServerRole, WorkerState } from '../../algorithms/types.js';
import type { Codec } from '../../core/codecs.js';
import { stateLayout, type StateLayout } from '../server-memory.js';
import type { AppliedPush } from '../shared-server.js';
import type { MessageHeader, PushMeta, ServerLink, WorkerId } from '../transport.js';
import { errorText, readAll, sendFrame, type NetLogger, type NetTransport } from './libp2p-transport.js';
import { onRequest } from './first-frame.js';
import { packedLength, packedPushes, packState, unpackState } from './packed-state.js';
import { encodePushRequest, maxRequestPayload, MAX_ROUND_STEPS, parsePushRequest, requestBytes, requestFrames, type PushRequest } from './server-frames.js';
import { ABORT_REASONS, FrameReader, MAX_HEADER_BYTES, WIRE_VERSION, decodeFrame, decodeMessage, encodeControl, encodeMessage, isWireError, type EncodedFrame, type Frame } from './wire.js';

export const SERVER_PROTOCOL = '/gossamer/server/1.1.0';
export const REPLICA_PROTOCOL = '/gossamer/server-replica/1.0.0';

export interface NetServerInit {
  /** Algorithm and layout hash every frame carries and must match. */
  algorithm: string;
  layoutHash: string;
  /** The algorithm's server capability (its rule), and the model it starts from. */
  capability: ServerCapability<WorkerState>;
  initial: Float32Array;
  /** Codec of the pseudo-gradients pushed (the run's). @default f32 */
  codec?: Codec;
  /** The server's state a resumed worker's checkpoint recorded: its replica to start from. */
  resume?: SavedState | null;
  /** Deadline of one push or replica, ms. @default 30000 */
  timeoutMs?: number;
  /** A push applied and replicated by this worker as the holder. */
  onApplied?: (push: AppliedPush) => void;
  log?: NetLogger;
}

type Answer = { model: Float32Array; innerSteps: number };
type Reply = Answer | Uint8Array | 'refused' | 'invalid';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const CHUNK = 256 << 10;

export class NetServer implements ServerLink {
  private readonly dim: number;
  private readonly layout: StateLayout;
  private readonly slot: Float32Array;
  private readonly timeoutMs: number;
  private readonly log: NetLogger;
  private readonly codec: Codec;
  /** Pushes this worker sent to a holder over the network (pulls aside), and their bytes (frames, headers included). */
  readonly stats = { pushes: 0, pushBytes: 0 };
  /** The role while this worker holds it. */
  private role: ServerRole | null = null;
  /** The last replica received, packed, and whose. */
  private replica: { packed: Float32Array; from: string } | null = null;
  /** The holder's pushes, applied one after the other. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly onLeave = (j: WorkerId): void => this.role?.forget(j);
  /** A worker of lower index (re)joins: it holds the server from now on, from this worker's state (sent at once). */
  private readonly onJoin = (j: WorkerId): void => {
    if (!this.role || j > this.transport.self || this.stopped) return;
    const role = this.role;
    this.queue = this.queue.then(async () => {
      // (its server may take a moment to start serving)
      for (let attempt = 0; attempt < 3 && !(await this.sendReplica(j, packState(this.layout, role), role.pushes)); attempt++) await sleep(500);
    }).catch(() => {});
  };

  constructor(private readonly transport: NetTransport, private readonly init: NetServerInit) {
    this.dim = init.initial.length;
    this.layout = stateLayout(init.capability.createServer(init.initial).saved());
    this.slot = new Float32Array(this.dim);
    this.timeoutMs = init.timeoutMs ?? 30_000;
    this.log = init.log ?? (() => {});
    this.codec = init.codec ?? 'f32';
    if (init.resume) {
      const role = init.capability.createServer(init.initial);
      role.restore(init.resume);
      this.replica = { packed: packState(this.layout, role), from: 'this worker\'s checkpoint' };
    }
  }

  /** Serves both protocols; call once before the first push. */
  async start(): Promise<void> {
    const expect = { dim: this.dim, codec: this.codec };
    await this.transport.serve(SERVER_PROTOCOL, (stream, peer) => this.onStream(stream, peer, maxRequestPayload(expect), requestFrames, (f) => this.onPush(f, peer)));
    await this.transport.serve(REPLICA_PROTOCOL, (stream, peer) => this.onStream(stream, peer, 4 * packedLength(this.layout), () => 1, (f) => this.onReplica(f[0], peer)));
    this.transport.on('leave', this.onLeave);
    this.transport.on('join', this.onJoin);
  }

  /** Stops answering (the others then ask whoever holds the server next). */
  stop(): void {
    this.stopped = true;
    this.transport.off('leave', this.onLeave);
    this.transport.off('join', this.onJoin);
  }

  /** Whether this worker holds the server now (it took the role, and no worker of lower index is live). */
  get holding(): boolean {
    return this.role !== null && this.holder() === this.transport.self;
  }

  pushSlot(): Float32Array {
    return this.slot;
  }

  push(meta: PushMeta, cancelled: () => boolean = () => false): Promise<Answer | null> {
    return this.request({ round: meta.round, steps: meta.steps, speed: meta.speed, delta: this.slot }, cancelled);
  }

  /** The server's model now, without a push (round 0 is never applied). */
  pull(cancelled: () => boolean = () => false): Promise<Answer | null> {
    return this.request({ round: 0, steps: 0, speed: 0, delta: null }, cancelled);
  }

  /**
   * The server's state this worker has — the role it holds, or else the last replica it received — copied (null:
   * none), once the push being applied (if any) is done: what a checkpoint records. Call after stop().
   */
  async snapshot(): Promise<SavedState | null> {
    await this.queue;
    if (!this.role) return this.replica ? unpackState(this.layout, this.replica.packed) : null;
    const { vectors, scalars } = this.role.saved();
    return { vectors: Object.fromEntries(Object.entries(vectors).map(([k, v]) => [k, v.slice()])), scalars: { ...scalars } };
  }

  /** The live worker of lowest index in this worker's view, itself included. */
  private holder(): WorkerId {
    return Math.min(this.transport.self, ...this.transport.connected());
  }

  /** The next live worker after this one (-1: none). */
  private backup(): WorkerId {
    const live = this.transport.connected();
    const after = live.filter((j) => j > this.transport.self);
    return after.length > 0 ? Math.min(...after) : live.length > 0 ? Math.min(...live) : -1;
  }

  private header(step: number): MessageHeader {
    return { version: WIRE_VERSION, algorithm: this.init.algorithm, step, layoutHash: this.init.layoutHash, codec: 'f32' };
  }

  /** Asks the holder of the moment until one answers (null when cancelled). */
  private async request(req: PushRequest, cancelled: () => boolean): Promise<Answer | null> {
    const { round } = req;
    let frames: EncodedFrame[] | null = null;
    for (let attempt = 0; ; attempt++) {
      if (cancelled()) return null;
      const holder = this.holder();
      let answer: Answer | null;
      if (holder === this.transport.self) answer = await this.serve(holder, req);
      else {
        frames ??= encodePushRequest((step) => this.header(step), this.codec, req, req.delta);
        answer = await this.ask(holder, round, frames);
      }
      if (answer !== null) return answer;
      if (attempt % 10 === 9) this.log('info', `round ${round}: no holder of the server has answered in ${attempt + 1} attempts; asking again`);
      await sleep(200);
    }
  }

  /** Sends a request's frames to the holder and waits for its answer (null: failed or refused). */
  private async ask(holder: WorkerId, round: number, frames: readonly EncodedFrame[]): Promise<Answer | null> {
    let stream: Stream;
    try {
      stream = await this.transport.dial(holder, SERVER_PROTOCOL, AbortSignal.timeout(this.timeoutMs));
    } catch (error) {
      this.log('info', `cannot reach worker ${holder}, the server's holder: ${errorText(error)}`);
      return null;
    }
    const answer = readAll(stream, 4 * (this.dim + 1) + MAX_HEADER_BYTES, 2 * this.timeoutMs);
    answer.catch(() => {});
    try {
      const signal = AbortSignal.timeout(this.timeoutMs);
      for (const frame of frames) await sendFrame(stream, frame, CHUNK, signal);
      if (frames.length > 1) {
        this.stats.pushes++;
        this.stats.pushBytes += requestBytes(frames);
      }
      await stream.close({ signal });
      const frame = decodeFrame(await answer, { algorithm: this.init.algorithm, layoutHash: this.init.layoutHash });
      if (isWireError(frame)) throw new Error(frame.detail);
      if (frame.kind === 'abort') {
        if (ABORT_REASONS[frame.aux] === 'invalid') this.log('warn', `worker ${holder}, the server's holder, refused round ${round} as malformed`);
        return null;
      }
      const message = decodeMessage(frame);
      if (isWireError(message)) throw new Error(message.detail);
      if (message.length !== this.dim + 1) throw new Error(`an answer of ${message.length} values, not ${this.dim + 1}`);
      const innerSteps = message[this.dim];
      if (!(Number.isInteger(innerSteps) && innerSteps >= 1 && innerSteps <= MAX_ROUND_STEPS)) throw new Error(`an answer of ${innerSteps} inner steps`);
      return { model: message.subarray(0, this.dim), innerSteps };
    } catch (error) {
      stream.abort(new Error('push abandoned'));
      this.log('info', `round ${round} through worker ${holder} failed: ${errorText(error)}`);
      return null;
    }
  }

  /**
   * Reads a request — the stream's frames, as many as `count` says from the first, each up to maxPayload bytes, until
   * the sender closes its side — and hands it over; the handler's reply goes back on the stream. A malformed frame,
   * or a stream of other than exactly its request's frames, drops the stream, logged.
   */
  private onStream(stream: Stream, peer: WorkerId | undefined, maxPayload: number, count: (first: Frame) => number, handle: (f: Frame[]) => Promise<Reply>): void {
    const reader = new FrameReader({ algorithm: this.init.algorithm, layoutHash: this.init.layoutHash, maxPayloadBytes: maxPayload });
    const silence = 'nothing received';
    onRequest(stream, reader, {
      timeoutMs: this.timeoutMs, silence, wholeStream: true,
      dropped: (why) => this.log(why === silence ? 'info' : 'warn', `server stream from worker ${peer ?? '?'} dropped: ${why}`),
    }, count, (frames) => {
    const step = frames[0].header.step;
    void handle(frames).then(async (reply) => {
      const signal = AbortSignal.timeout(2 * this.timeoutMs);
      try {
        if (reply instanceof Uint8Array) await sendFrame(stream, { header: reply, payload: new Uint8Array(0) }, CHUNK, signal);
        else if (typeof reply === 'object') {
          const message = new Float32Array(this.dim + 1);
          message.set(reply.model);
          message[this.dim] = reply.innerSteps;
          await sendFrame(stream, encodeMessage(this.header(step), message), CHUNK, signal);
        } else {
          const abort = encodeControl('abort', this.header(step), { aux: ABORT_REASONS.indexOf(reply) });
          await sendFrame(stream, { header: abort, payload: new Uint8Array(0) }, CHUNK, signal);
        }
        await stream.close({ signal });
      } catch (error) {
        this.log('info', `answering worker ${peer ?? '?'} failed: ${errorText(error)}`);
        stream.abort(new Error('answer abandoned'));
      }
    });
    });
  }

  /**
   * A member's push or pull: checked whole (a malformed one is refused as invalid, logged), then served if this
   * worker holds the server in its own view, refused otherwise.
   */
  private async onPush(frames: Frame[], peer: WorkerId | undefined): Promise<Reply> {
    const from = peer === undefined ? 'an unknown peer' : `worker ${peer}`;
    const req = peer === undefined || peer === this.transport.self || peer >= this.transport.workers ? `a request from ${from}` : parsePushRequest(frames, { dim: this.dim, codec: this.codec });
    if (typeof req === 'string') {
      this.log('warn', `refused a push from ${from}: ${req}`);
      return 'invalid';
    }
    if (this.stopped || this.holder() !== this.transport.self) return 'refused';
    return this.serve(peer!, req);
  }

  /** A replica from the holder: kept (the newest one), acknowledged. */
  private async onReplica(f: Frame, peer: WorkerId | undefined): Promise<Reply> {
    const packed = decodeMessage(f);
    const pushes = isWireError(packed) ? NaN : packedPushes(this.layout, packed);
    if (peer === undefined || isWireError(packed) || packed.length !== packedLength(this.layout) || !(Number.isInteger(pushes) && pushes >= 0)) {
      this.log('warn', `refused a replica from ${peer === undefined ? 'an unknown peer' : `worker ${peer}`}: ${isWireError(packed) ? packed.detail : 'not a state of this server'}`);
      return 'invalid';
    }
    if (this.stopped) return 'refused';
    this.replica = { packed, from: `worker ${peer}'s replica` };
    return encodeControl('done', this.header(f.header.step));
  }

  /**
   * As the holder: applies a push (one at a time, in arrival order; a pull or a duplicate changes nothing), replicates
   * the state to the backup, and answers.
   */
  private serve(worker: WorkerId, req: PushRequest): Promise<Answer> {
    const { round, steps, speed, delta } = req;
    const job = this.queue.then(async (): Promise<Answer> => {
      if (!this.role) await this.takeOver();
      const role = this.role!;
      const applied = delta !== null && round > 0 && role.apply({ worker, round, steps, speed, delta });
      const staleness = applied ? role.staleness(worker) : 0;
      const answer = role.answer(worker);
      const reply = { model: Float32Array.from(answer.model), innerSteps: answer.innerSteps };
      if (applied) {
        await this.replicate(role);
        this.init.onApplied?.({ worker, round, staleness });
      }
      return reply;
    });
    this.queue = job.catch(() => {});
    return job;
  }

  /** Takes the role over from the last replica received (or the initial model), and replicates it at once. */
  private async takeOver(): Promise<void> {
    const role = this.init.capability.createServer(this.init.initial);
    if (this.replica) {
      role.restore(unpackState(this.layout, this.replica.packed));
      this.log('warn', `worker ${this.transport.self} holds the server now, from ${this.replica.from} of ${role.pushes} pushes`);
    } else if (this.transport.self !== 0) {
      this.log('warn', `worker ${this.transport.self} holds the server now, from the initial model (it received no replica)`);
    }
    for (let j = 0; j < this.transport.workers; j++) if (j !== this.transport.self && !this.transport.connected().includes(j)) role.forget(j);
    this.role = role;
    await this.replicate(role);
  }

  /** Sends the state to the backup until one acknowledges it (or none is left, or three have failed). */
  private async replicate(role: ServerRole): Promise<void> {
    const packed = packState(this.layout, role);
    for (let attempt = 0; attempt < 3; attempt++) {
      const backup = this.backup();
      if (backup < 0 || this.stopped) return;
      if (await this.sendReplica(backup, packed, role.pushes)) return;
      await sleep(200);
    }
    this.log('warn', `the server's state after ${role.pushes} pushes reached no backup`);
  }

  private async sendReplica(backup: WorkerId, packed: Float32Array, pushes: number): Promise<boolean> {
    let stream: Stream;
    try {
      stream = await this.transport.dial(backup, REPLICA_PROTOCOL, AbortSignal.timeout(this.timeoutMs));
    } catch (error) {
      this.log('info', `cannot reach worker ${backup} for the server's replica: ${errorText(error)}`);
      return false;
    }
    const ack = readAll(stream, MAX_HEADER_BYTES, 2 * this.timeoutMs);
    ack.catch(() => {});
    try {
      const signal = AbortSignal.timeout(this.timeoutMs);
      await sendFrame(stream, encodeMessage(this.header(pushes), packed), CHUNK, signal);
      await stream.close({ signal });
      const frame = decodeFrame(await ack, { algorithm: this.init.algorithm, layoutHash: this.init.layoutHash });
      if (isWireError(frame)) throw new Error(frame.detail);
      if (frame.kind !== 'done') throw new Error(`answered ${frame.kind}`);
      return true;
    } catch (error) {
      stream.abort(new Error('replica abandoned'));
      this.log('info', `the server's replica to worker ${backup} failed: ${errorText(error)}`);
      return false;
    }
  }
}
