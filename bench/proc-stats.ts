import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * What the benchmarks read about one process from /proc: CPU time and resident memory.
 * Only the given pid counts — not its children (the shell a step runs is not the worker).
 */

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of `pid` (all its threads, none of its children), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...), converted to bytes. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

export const rssBytes = (pid: number): number => statusBytes(pid, 'VmRSS');

/**
 * The anonymous part of RSS: the process's own memory (heap, stacks, buffers). The rest of
 * RSS is file-backed pages (the executable and libraries), clean page cache shared with
 * every process that maps the same files; for Node that is about 35–45 MB of its binary.
 */
export const privateBytes = (pid: number): number => statusBytes(pid, 'RssAnon');

/**
 * Peak resident memory of a process over an interval. The kernel's high-water mark (VmHWM)
 * is reset at the start through /proc/<pid>/clear_refs where that is allowed; RSS is also
 * sampled every `intervalMs`, so the peak is right even where the reset is not.
 */
export class PeakRss {
  private peak = 0;
  /** The highest sampled RssAnon (the kernel keeps no high-water mark for it). */
  privatePeak = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly hwmReset: boolean;

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      reset = true;
    } catch {
      /* not permitted: sampling only */
    }
    this.hwmReset = reset;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, rssBytes(this.pid));
      this.privatePeak = Math.max(this.privatePeak, privateBytes(this.pid));
    } catch {
      /* the process is gone */
    }
  }

  /** Stop sampling; the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    if (this.hwmReset) {
      try {
        this.peak = Math.max(this.peak, statusBytes(this.pid, 'VmHWM'));
      } catch {
        /* gone */
      }
    }
    return this.peak;
  }
}

export const MB = 1024 * 1024;

/**
 * Resident memory of a process over an interval, sampled every `intervalMs`: the series
 * (for percentiles and a sparkline) and the peak (VmHWM after a reset, as PeakRss).
 */
export class RssSeries {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly peak: PeakRss;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.peak = new PeakRss(pid, intervalMs);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    try {
      this.samples.push(rssBytes(this.pid));
    } catch {
      /* the process is gone */
    }
  }

  /** Stop sampling: the samples in bytes, in order, the peak and the peak of private memory. */
  stop(): { samples: number[]; peak: number; privatePeak: number } {
    clearInterval(this.timer);
    this.sample();
    return { samples: this.samples, peak: this.peak.stop(), privatePeak: this.peak.privatePeak };
  }
}
