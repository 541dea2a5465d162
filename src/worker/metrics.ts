import type { CommandMetrics } from '../commands/runner.js';

/**
 * The worker's counters for the opt-in health/metrics endpoint (`start --metrics-port`),
 * rendered in the Prometheus text exposition format 0.0.4. The reconnect loop reports the
 * connection, the command runner reports commands, streamed log bytes and transfer bytes;
 * commands themselves never see this object.
 */

/** The Content-Type of `render()`'s text. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Process figures read when the metrics are rendered. */
export interface ProcessSample {
  /** Epoch milliseconds. */
  now: number;
  /** Resident set size in bytes. */
  rss: number;
}

export class WorkerMetrics implements CommandMetrics {
  private isConnected = false;
  private started = 0;
  private completed = 0;
  private failed = 0;
  private logBytes = 0;
  private uploaded = 0;
  private downloaded = 0;
  private reconnects = 0;
  /** Epoch milliseconds of the last login, 0 before the first. */
  private lastLogin = 0;

  /**
   * @param protocol the wire protocol label (`pb`, `msgpack_experimental_v7`).
   * @param startedAt epoch milliseconds the worker started at (for the uptime).
   */
  constructor(
    readonly protocol: string,
    readonly startedAt: number,
  ) {}

  get connected(): boolean {
    return this.isConnected;
  }

  /** Logged in (at `now`, epoch ms). */
  loggedIn(now: number): void {
    this.isConnected = true;
    this.lastLogin = now;
  }

  connectionLost(): void {
    this.isConnected = false;
  }

  /** Another connection attempt after the first one (after a failure or a lost connection). */
  reconnecting(): void {
    this.reconnects++;
  }

  commandStarted(): void {
    this.started++;
  }

  /** `failed`: the command raised, or reported a non-zero rc. */
  commandEnded(failed: boolean): void {
    this.completed++;
    if (failed) this.failed++;
  }

  addLogBytes(n: number): void {
    this.logBytes += n;
  }

  addUploaded(n: number): void {
    this.uploaded += n;
  }

  addDownloaded(n: number): void {
    this.downloaded += n;
  }

  /** The exposition text (every metric, HELP and TYPE lines, trailing newline). */
  render(sample: ProcessSample): string {
    const out: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number, labels?: Record<string, string>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${formatLabels(labels)} ${formatValue(value)}`);
    };
    metric('buildbot_worker_connected', 'gauge', '1 while logged in to the master, else 0.', this.isConnected ? 1 : 0, { protocol: this.protocol });
    metric('buildbot_worker_running_commands', 'gauge', 'Commands running now.', this.started - this.completed);
    metric('buildbot_worker_commands_started_total', 'counter', 'Commands started by the master.', this.started);
    metric('buildbot_worker_commands_completed_total', 'counter', 'Commands that ended, failed ones included.', this.completed);
    metric('buildbot_worker_commands_failed_total', 'counter', 'Commands that raised an error or ended with a non-zero rc.', this.failed);
    metric('buildbot_worker_log_bytes_total', 'counter', 'UTF-8 bytes of command output and logfiles sent to the master.', this.logBytes);
    metric('buildbot_worker_uploaded_bytes_total', 'counter', 'Bytes written to the master by uploads.', this.uploaded);
    metric('buildbot_worker_downloaded_bytes_total', 'counter', 'Bytes read from the master by downloads.', this.downloaded);
    metric('buildbot_worker_reconnects_total', 'counter', 'Connection attempts after the first one.', this.reconnects);
    metric('buildbot_worker_last_login_timestamp_seconds', 'gauge', 'Time of the last successful login (0: never).', this.lastLogin / 1000);
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', sample.rss);
    metric('buildbot_worker_uptime_seconds', 'gauge', 'Seconds since the worker started.', Math.max(0, (sample.now - this.startedAt) / 1000));
    return out.join('\n') + '\n';
  }
}

/** Label values escape backslash, double quote and newline (exposition format 0.0.4). */
export function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `{${parts.join(',')}}`;
}

/** Go-style float text: `+Inf`, `-Inf`, `NaN`, else the shortest round-trip decimal. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
