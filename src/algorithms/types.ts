import type { Vec } from '../core/vec.js';

/**
 * "One algorithm, two clocks": every distributed algorithm is written as reactions to the events of ONE worker,
 * against its own state. The simulator calls these handlers in virtual time; the runtime calls the very same
 * handlers in wall-clock time (time measured in expected local gradient steps). Algorithms never know which.
 */

/** Computes the gradient of the worker's local objective at x into grad and returns the loss there. */
export type GradientSource = (x: Vec, grad: Vec) => number;

export interface WorkerState {
  /** The model: where gradients are taken, what is averaged and evaluated. */
  readonly x: Vec;
}

/** An asynchronous algorithm driven by local gradient steps and pairwise exchanges. */
export interface PairwiseAlgorithm<S extends WorkerState = WorkerState> {
  readonly name: string;
  /** Worker state, starting from the (global average) initial point x0, at time t0. */
  createState(x0: Vec, t0?: number): S;
  /** Brings the worker's continuous dynamics up to time t (idempotent; a no-op for discrete algorithms). */
  advance(s: S, t: number): void;
  /** One local gradient step at time t; returns the local loss. */
  gradientStep(s: S, t: number, gradient: GradientSource): number;
  /** Length of the message a worker sends in an exchange. */
  messageLength(): number;
  /** Writes what this worker sends to its peer when an exchange starts at time t. */
  message(s: S, t: number, out: Vec): void;
  /** Applies the peer's message when the exchange completes at time t. */
  receive(s: S, t: number, peer: Vec): void;
}

/** A synchronous algorithm: every round, all workers contribute a vector and get back the mean. */
export interface RoundAlgorithm<S extends WorkerState = WorkerState> {
  readonly name: string;
  createState(x0: Vec): S;
  /** Computes this worker's contribution to the round into out; returns the local loss. */
  contribute(s: S, gradient: GradientSource, out: Vec): number;
  /** Applies the all-reduced mean of the contributions. */
  apply(s: S, mean: Vec): void;
}
