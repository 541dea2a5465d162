import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Process-table and network tools for the reliability tests: what is alive, what is a
 * zombie, how much memory a process holds, and a TCP proxy that can go silent.
 */

export { attachWorker, processesWith, startWorker, type Protocol, type RunningWorker } from '../e2e/harness.js';

interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0]!, ppid: Number(rest[1]), pgid: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** Zombie children of `pid` (ended, never reaped). */
export function zombieChildren(pid: number): number[] {
  return allStats()
    .filter((s) => s.ppid === pid && s.state === 'Z')
    .map((s) => s.pid);
}

/** Every descendant of `pid` (children, grandchildren, ...), zombies included. */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const s of allStats()) {
    const list = byParent.get(s.ppid) ?? [];
    list.push(s.pid);
    byParent.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [...(byParent.get(pid) ?? [])];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** Live (non-zombie) members of process group `pgid`. */
export function liveInGroup(pgid: number): number[] {
  return allStats()
    .filter((s) => s.pgid === pgid && s.state !== 'Z' && s.state !== 'X')
    .map((s) => s.pid);
}

export function processGroupOf(pid: number): number | undefined {
  return readStat(pid)?.pgid;
}

/** One field of /proc/<pid>/status (e.g. VmRSS in kB, SigIgn as hex), or undefined. */
export function procStatus(pid: number, field: string): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const line = text.split('\n').find((l) => l.startsWith(`${field}:`));
    return line?.slice(field.length + 1).trim();
  } catch {
    return undefined;
  }
}

/** Resident memory of `pid` in MiB (0 when the process is gone). */
export function rssMiB(pid: number): number {
  const v = procStatus(pid, 'VmRSS');
  return v ? Number.parseInt(v, 10) / 1024 : 0;
}

/** Sample `rssMiB(pid)` every `everyMs` until stopped; the peak is what counts. */
export function sampleRss(pid: number, everyMs = 50): { stop(): number; readonly samples: number[] } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssMiB(pid)), everyMs);
  samples.push(rssMiB(pid));
  return {
    samples,
    stop() {
      clearInterval(timer);
      samples.push(rssMiB(pid));
      return Math.max(...samples);
    },
  };
}

/**
 * A TCP proxy in front of `target`. `silence()` makes every open connection stop
 * forwarding in both directions while keeping both sockets open — a link that died
 * without a FIN or RST, as a NAT timeout or a pulled cable leaves it. New connections
 * are forwarded normally.
 */
export class SilenceableProxy {
  private readonly pairs = new Set<{ a: net.Socket; b: net.Socket; silent: boolean }>();
  connections = 0;

  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<SilenceableProxy> {
    let proxy!: SilenceableProxy;
    const server = net.createServer((a) => {
      proxy.connections++;
      const b = net.connect(targetPort, '127.0.0.1');
      const pair = { a, b, silent: false };
      proxy.pairs.add(pair);
      const forward = (from: net.Socket, to: net.Socket) => {
        from.on('data', (d) => {
          if (!pair.silent) to.write(d);
        });
        from.on('end', () => {
          if (!pair.silent) to.end();
        });
        from.on('error', () => undefined);
        from.on('close', () => {
          if (!pair.silent) to.destroy();
        });
      };
      forward(a, b);
      forward(b, a);
    });
    proxy = new SilenceableProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stop forwarding on every connection open now. */
  silence(): void {
    for (const p of this.pairs) p.silent = true;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A marker number unique to this test run, for finding a test's processes by command line. */
let markerCounter = 0;
export function uniqueMarker(): string {
  markerCounter++;
  return `${process.pid % 10000}${String(markerCounter).padStart(3, '0')}${Math.floor(Math.random() * 90 + 10)}`;
}
