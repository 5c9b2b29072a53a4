/**
 * The authors' central pairing, as an alternative to the coordinator-free protocol (for like-for-like comparisons
 * with their runtime): workers that want an exchange register with one orchestrator, which pairs them —
 * on the complete graph the first two in FIFO order; on other graphs the newcomer with the first registered
 * neighbour found in a shuffled list of its neighbours, else the newcomer waits in the queue. The list is shuffled
 * with the weights of the edge rates (partners.ts) — as the authors shuffle their lists, where a neighbour listed
 * twice comes first twice as often. Within a pair the higher rank proposes (the exchange itself goes over the
 * transport, as with the coordinator-free protocol).
 */
import type { Rng } from '../core/rng.js';
import { drawWeighted, partnersOf, type Partners } from '../graph/partners.js';
import type { Graph } from '../graph/topology.js';

export class FifoOrchestrator {
  /** Registered workers, oldest first. */
  private readonly queue: number[] = [];
  private readonly waiting = new Set<number>();
  private readonly partners: Partners[];
  private readonly complete: boolean;
  /** Pairs made. */
  pairs = 0;

  constructor(graph: Graph, private readonly rng: Rng, private readonly assign: (a: number, b: number) => void) {
    // (The weights do not depend on the communication rate.)
    this.partners = graph.neighbors.map((_, i) => partnersOf(graph, 1, i));
    this.complete = graph.structure?.kind === 'complete' || graph.edges.length === (graph.n * (graph.n - 1)) / 2;
  }

  /** Worker i wants an exchange. */
  available(i: number): void {
    if (this.waiting.has(i)) return;
    let partner = -1;
    if (this.complete) {
      partner = this.queue.length > 0 ? this.queue[0] : -1;
    } else {
      for (const j of this.weightedOrder(this.partners[i])) {
        if (this.waiting.has(j)) {
          partner = j;
          break;
        }
      }
    }
    if (partner < 0) {
      this.queue.push(i);
      this.waiting.add(i);
      return;
    }
    this.remove(partner);
    this.pairs++;
    this.assign(i, partner);
  }

  /** The partners in a random order where each comes next with a probability proportional to its weight. */
  private weightedOrder(p: Partners): number[] {
    if (p.uniform) return this.rng.shuffle([...p.ids]);
    const ids = [...p.ids];
    const weights = [...p.weights];
    const order: number[] = [];
    while (ids.length > 0) {
      const k = drawWeighted(weights, this.rng);
      order.push(ids.splice(k, 1)[0]);
      weights.splice(k, 1);
    }
    return order;
  }

  /** Worker i no longer waits (it stopped, or is gone). */
  withdraw(i: number): void {
    this.remove(i);
  }

  private remove(i: number): void {
    if (!this.waiting.delete(i)) return;
    const k = this.queue.indexOf(i);
    if (k >= 0) this.queue.splice(k, 1);
  }
}
