/**
 * Clusters of processes on real kernel networking: N Linux network namespaces, each with one veth whose other end is
 * a port of a bridge in a namespace of its own, and the egress of each namespace's veth shaped by the kernel's
 * traffic control. Real packets and the kernel's TCP (its congestion control, its retransmissions) instead of the
 * in-process link emulator.
 *
 * Shaping: with sch_netem, `netem delay <latency> <jitter> loss <p> rate <bandwidth>` on each namespace's veth (a
 * packet from i to j is delayed once, by i's egress: a round trip takes twice the latency, as the emulator's
 * one-way latency both ways); a kernel without sch_netem can still limit the bandwidth with tbf, and then has no
 * latency, jitter or loss of its own (`shaping.kernel` says which, `shaping.missing` what it could not do).
 *
 * Nothing is made outside the namespaces the cluster creates (names `<prefix>-<pid>-<i>` and `<prefix>-<pid>-br`):
 * `destroy()` kills the processes spawned in them and deletes them, which deletes their links, and it runs on
 * process exit and on SIGINT / SIGTERM as well. `sweepStale()` removes what runs that died without cleaning up left.
 * Needs root and iproute2 (`ip`, `tc`).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export const NETNS_PREFIX = 'gsm';

/** The shaping of each namespace's outgoing link. */
export interface NetnsLink {
  /** One-way latency, ms (each direction of a TCP connection is delayed once). */
  latencyMs?: number;
  /** Latency jitter, ms (netem's normal-ish ±). */
  jitterMs?: number;
  /** Bytes per second (absent or Infinity: unlimited). */
  bandwidth?: number;
  /** Packet loss probability, 0 … 1. */
  loss?: number;
}

export interface NetnsSupport {
  ok: boolean;
  /** Why not, one line (when !ok). */
  reason?: string;
  /** Whether the kernel has sch_netem (latency, jitter, loss); without it only bandwidth is shaped (tbf). */
  netem: boolean;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n')[0]}`);
}

function quiet(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The namespaces of this host (`ip netns list`). */
export function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((s) => s.length > 0);
}

/**
 * Whether this process can make namespace clusters: root, iproute2, `ip netns add` allowed, and whether the kernel
 * shapes latency too (sch_netem). Probes with a namespace of its own, deleted before it returns.
 */
export function netnsSupport(prefix = NETNS_PREFIX): NetnsSupport {
  if (process.platform !== 'linux') return { ok: false, netem: false, reason: 'network namespaces need Linux' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, netem: false, reason: 'network namespaces need root' };
  if (!quiet('ip', ['-V'])) return { ok: false, netem: false, reason: 'iproute2 (ip) is not installed' };
  if (!quiet('tc', ['-V'])) return { ok: false, netem: false, reason: 'iproute2 (tc) is not installed' };
  const probe = `${prefix}-${process.pid}-probe`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.error || made.status !== 0) {
    return { ok: false, netem: false, reason: `ip netns add failed: ${(made.stderr || String(made.error)).trim().split('\n')[0]}` };
  }
  try {
    // Loopback takes a qdisc like any device: is netem there?
    const netem = quiet('tc', ['-n', probe, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    return { ok: true, netem };
  } finally {
    quiet('ip', ['netns', 'del', probe]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes the namespaces of earlier runs (same prefix) whose process is gone; returns their names. */
export function sweepStale(prefix = NETNS_PREFIX): string[] {
  const pattern = new RegExp(`^${prefix}-(\\d+)-`);
  const gone: string[] = [];
  for (const name of listNamespaces()) {
    const m = pattern.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    killIn(name);
    if (quiet('ip', ['netns', 'del', name])) gone.push(name);
  }
  return gone;
}

/** Kills every process still inside a namespace (a namespace outlives its name while a process holds it). */
function killIn(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return;
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** What the kernel shapes, and what it could not. */
export interface NetnsShaping {
  kernel: 'netem' | 'tbf' | 'none';
  /** The `tc qdisc` arguments on each namespace's veth (after `root`). */
  qdisc: string[];
  /** Link properties asked for that this kernel cannot shape (no sch_netem): latency, jitter, loss. */
  missing: string[];
}

/** The tc arguments for a link: netem when the kernel has it, else tbf for the bandwidth alone. */
export function shapingFor(link: NetnsLink, netem: boolean): NetnsShaping {
  const lat = link.latencyMs ?? 0;
  const jit = link.jitterMs ?? 0;
  const loss = link.loss ?? 0;
  const bw = link.bandwidth ?? Infinity;
  const bits = Number.isFinite(bw) ? `${Math.max(1, Math.round(bw * 8))}bit` : null;
  if (netem && (lat > 0 || jit > 0 || loss > 0 || bits)) {
    const qdisc = ['netem', 'limit', '100000'];
    if (lat > 0 || jit > 0) qdisc.push('delay', `${lat}ms`, ...(jit > 0 ? [`${jit}ms`] : []));
    if (loss > 0) qdisc.push('loss', `${loss * 100}%`);
    if (bits) qdisc.push('rate', bits);
    return { kernel: 'netem', qdisc, missing: [] };
  }
  const missing = [...(lat > 0 ? ['latency'] : []), ...(jit > 0 ? ['jitter'] : []), ...(loss > 0 ? ['loss'] : [])];
  if (!bits) return { kernel: 'none', qdisc: [], missing };
  // A burst of at least one timer tick's worth of bytes (HZ 100 at worst) and a queue of up to 200 ms.
  const burst = Math.max(16 * 1024, Math.ceil(bw / 100));
  return { kernel: 'tbf', qdisc: ['tbf', 'rate', bits, 'burst', String(burst), 'latency', '200ms'], missing };
}

export interface NetnsClusterOptions {
  /** Link of every namespace (its egress). */
  link?: NetnsLink;
  prefix?: string;
  /** Whether the kernel has netem (default: probed). */
  netem?: boolean;
}

/** N namespaces on one bridge; see the module's comment. */
export class NetnsCluster {
  readonly namespaces: string[];
  readonly bridge: string;
  /** The address of namespace i (on its veth, a /24 shared by all). */
  readonly addresses: string[];
  readonly shaping: NetnsShaping;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;
  private readonly onExit = () => this.destroy();
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.destroy();
    process.kill(process.pid, signal);
  };

  private constructor(n: number, prefix: string, shaping: NetnsShaping) {
    const base = `${prefix}-${process.pid}`;
    this.namespaces = Array.from({ length: n }, (_, i) => `${base}-${i}`);
    this.bridge = `${base}-br`;
    // 10.<x>.<y>.<i + 1>: x and y from the pid, so that two runs' addresses differ as well as their names.
    const x = 16 + ((process.pid >> 8) % 224);
    const y = process.pid & 255;
    this.addresses = this.namespaces.map((_, i) => `10.${x}.${y}.${i + 1}`);
    this.shaping = shaping;
  }

  /** Makes the namespaces, the bridge and the links, shaped; throws (having removed what it made) on failure. */
  static create(n: number, opts: NetnsClusterOptions = {}): NetnsCluster {
    if (!(Number.isInteger(n) && n >= 1 && n <= 250)) throw new Error(`a namespace cluster has 1 to 250 members, not ${n}`);
    const prefix = opts.prefix ?? NETNS_PREFIX;
    const netem = opts.netem ?? netnsSupport(prefix).netem;
    sweepStale(prefix);
    const c = new NetnsCluster(n, prefix, shapingFor(opts.link ?? {}, netem));
    process.once('exit', c.onExit);
    process.once('SIGINT', c.onSignal);
    process.once('SIGTERM', c.onSignal);
    try {
      c.build();
    } catch (e) {
      c.destroy();
      throw e;
    }
    return c;
  }

  private build(): void {
    const br = this.bridge;
    run('ip', ['netns', 'add', br]);
    run('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    this.namespaces.forEach((ns, i) => {
      run('ip', ['netns', 'add', ns]);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', br, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run('ip', ['-n', br, 'link', 'set', `v${i}`, 'master', 'br0']);
      run('ip', ['-n', br, 'link', 'set', `v${i}`, 'up']);
      run('ip', ['-n', ns, 'addr', 'add', `${this.addresses[i]}/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      if (this.shaping.qdisc.length > 0) run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'root', ...this.shaping.qdisc]);
    });
  }

  /** Spawns `command args` inside namespace i (through `ip netns exec`, which execs it: the child's pid is its own). */
  spawn(i: number, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error('the namespace cluster is destroyed');
    const child = spawn('ip', ['netns', 'exec', this.namespaces[i], command, ...args], options);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** The kernel's view of namespace i's link: `tc -s qdisc` output (packets sent, dropped, …). */
  qdiscStats(i: number): string {
    return execFileSync('tc', ['-n', this.namespaces[i], '-s', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
  }

  /** Kills the processes spawned in the namespaces and deletes the namespaces (and with them every link). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    for (const child of this.children) child.kill('SIGKILL');
    const present = new Set(listNamespaces());
    for (const ns of [...this.namespaces, this.bridge]) {
      if (!present.has(ns)) continue;
      killIn(ns);
      quiet('ip', ['netns', 'del', ns]);
    }
  }
}
