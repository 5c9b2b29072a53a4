/**
 * The runtime: the algorithms of src/algorithms driven for real, in wall-clock time.
 *
 * API summary
 * -----------
 * Clusters of worker threads (one process)
 *   runCluster(config) → ClusterSummary      N workers × (compute thread + agent thread), parameters on shared
 *                                            memory, exchanges over the in-process transport (optionally rounded
 *                                            by a wire codec), metrics rows in the simulator's format, fault
 *                                            injection (kill, rejoin), the final global average evaluated and saved
 *                                            (with every worker's own state when interrupted: cluster-checkpoint.ts)
 *   checkClusterConfig(config)               one-line UsageErrors for bad configurations
 *   the train command's cluster options: addClusterOptions, clusterConfig, isClusterRun, runClusterCommand (cli.ts)
 *
 * A worker's algorithm side (thread-agnostic)
 *   new WorkerAgent({id, built, x, optimizer, rate, pairing | collective, permit, ...})
 *     applyGradient(loss, grad, ms)   a local step through the algorithm's handlers, then its collective if due
 *     start(), stop(), steps, exchanges, state (the handlers' state, its vectors on shared memory)
 *   the worker's LocalOptimizer (src/algorithms/local-optimizer.ts) with makeRunSchedule (warm-up, cosine, step,
 *     the authors' multistep)
 *   RateControl (rate ≥ 1 and < 1, Poisson or exact), LocalClock (wall-clock over the moving average of a step)
 *
 * Pairing and transports
 *   new Pairing(transport, party, {neighbours, messageLength, rng, timeoutMs})   coordinator-free pairing
 *     (or, with {register} and pairing.assigned(peer), pairs made by the authors' central FifoOrchestrator)
 *   inProcessNetwork(n, edges, length) → endpoints; new InProcessTransport(endpoint, {expect, log, codec});
 *     relinkEndpoint(endpoints, i, live) and transport.link(peer): new channels for a worker that comes back
 *   new EmulatedTransport(transport, linkTable)   bandwidth, latency, jitter, loss per worker or per edge;
 *     readLinkTable(file), linkBetween(table, i, j), parseBandwidth('100Mbit')
 *   SharedAllReduce / collectiveBuffers: the synchronous baseline's all-reduce in shared memory (ringAllReduceMs
 *     for its emulated duration)
 *   The Transport interface (transport.ts) is shared with the network transport in net/.
 */
export { runCluster } from './cluster.js';
export { checkClusterConfig, CLUSTER_ALGORITHMS } from './cluster-config.js';
export type { ClusterConfig, ClusterSummary, ClusterAlgorithm, WorkerSummary } from './cluster-config.js';
export { WorkerAgent, HEADER_VERSION, type AgentOptions } from './agent.js';
export { makeRunSchedule, type RunSchedule } from './schedule.js';
export { RateControl, type RateMode } from '../algorithms/rate-control.js';
export { LocalClock } from './rate.js';
export { FifoOrchestrator } from './orchestrator.js';
export { graphPairing, Pairing, type ExchangeParty, type ExchangeContext, type PairingOptions, type PairingStats } from './pairing.js';
export { InProcessTransport, inProcessNetwork, sharedMailbox, acceptorWaitMs, type InProcessEndpoint, type Mailbox } from './inprocess.js';
export { EmulatedTransport, readLinkTable, linkBetween, parseBandwidth, emulatesLinks, type LinkSpec, type LinkTable } from './emulator.js';
export { SharedAllReduce, collectiveBuffers, markDead, ringAllReduceMs, type CollectiveBuffers } from './collective.js';
export type { Transport, ProposalHandler, ExchangeResult, MessageHeader, WorkerId } from './transport.js';
