/**
 * One exchange's control frames on a lane (lane.ts), in place of the libp2p stream it would otherwise open: the part
 * of a stream that exchange.ts uses (send, close, abort, 'message' and 'close' events), over the lane that carries
 * the exchange's payloads. A stream per exchange cost ~180 KB of garbage and ~2 ms of CPU on each side (multistream
 * negotiation, peer-store updates, yamux), and each of its frames went through pnet, noise and yamux again; here a
 * frame is one lane record.
 *
 * Frames go out under the tag of this end's role and come in under the peer's (lane.ts: laneTag). Closing needs
 * nothing on the wire — the exchange's last frame (done, busy or abort) told the peer — but aborting does: a stream
 * is reset, a lane stays, so an abort frame says it. A closed lane closes its conversations.
 */
import { ABORT_REASONS, decodeHeader, encodeControl, isWireError } from './wire.js';
import { laneTag, type Lane } from './lane.js';
import type { MessageHeader } from '../transport.js';
import type { ExchangeStream } from './stream-io.js';

type MessageListener = (event: { data: Uint8Array | Iterable<Uint8Array> }) => void;

export class LaneConversation implements ExchangeStream {
  private open = true;
  /** The header of the first frame sent or received: an abort frame needs one the peer accepts. */
  private header: MessageHeader | null = null;
  private readonly onMessage = new Set<MessageListener>();
  private readonly onClose = new Set<() => void>();

  constructor(
    readonly lane: Lane,
    /** The exchange's lane id. */
    readonly id: number,
    readonly role: 'proposer' | 'acceptor',
    /** Called once, when the conversation ends (closed, aborted, or its lane gone). */
    private readonly ended: (c: LaneConversation) => void,
  ) {}

  get peerId(): string {
    return this.lane.peerId;
  }

  /** The tag of the peer's frames. */
  get inTag(): number {
    return laneTag(this.id, this.role === 'proposer' ? 'acceptor' : 'proposer', 'control');
  }

  send(data: Uint8Array): boolean {
    if (!this.open || this.lane.closed) throw new Error('the exchange is over');
    this.remember(data);
    this.lane.sendControl(laneTag(this.id, this.role, 'control'), data).catch(() => this.end(true));
    return true;
  }

  async close(): Promise<void> {
    this.end(false);
  }

  abort(): void {
    if (!this.open) return;
    if (this.header && !this.lane.closed) {
      const frame = encodeControl('abort', this.header, { aux: ABORT_REASONS.indexOf('closed') });
      this.lane.sendControl(laneTag(this.id, this.role, 'control'), frame).catch(() => {});
    }
    this.end(false);
  }

  addEventListener(type: 'message' | 'close' | 'end', listener: MessageListener | (() => void)): void {
    if (type === 'message') this.onMessage.add(listener as MessageListener);
    else if (type === 'close') this.onClose.add(listener as () => void);
  }

  removeEventListener(type: 'message' | 'close' | 'end', listener: MessageListener | (() => void)): void {
    if (type === 'message') this.onMessage.delete(listener as MessageListener);
    else if (type === 'close') this.onClose.delete(listener as () => void);
  }

  /** A frame of the peer's for this exchange (lane-table.ts routes it here). */
  received(frame: Uint8Array): void {
    if (!this.open) return;
    this.remember(frame);
    for (const listener of [...this.onMessage]) listener({ data: frame });
  }

  /** The lane closed under the exchange: as a stream reset, its listeners hear 'close'. */
  laneClosed(): void {
    this.end(true);
  }

  private remember(frame: Uint8Array): void {
    if (this.header) return;
    const h = decodeHeader(frame);
    if (!isWireError(h)) this.header = h.header;
  }

  private end(tell: boolean): void {
    if (!this.open) return;
    this.open = false;
    this.ended(this);
    if (tell) for (const listener of [...this.onClose]) listener();
  }
}
