import { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, type MsgpackMessage } from '../../../src/protocol/msgpack.js';

/**
 * A minimal msgpack worker driven step by step by a test, built from the codec only
 * (not the worker), so the master's wire behaviour can be checked message by message.
 */
export class ScriptedMsgpackClient {
  private readonly inbox: MsgpackMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  private seq = 0;
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      this.inbox.push(decodeMessage(data));
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
    ws.on('error', () => undefined);
  }

  /** Connect with Basic credentials; resolves once the upgrade succeeded. */
  static connect(port: number, name: string, password: string): Promise<ScriptedMsgpackClient> {
    const auth = 'Basic ' + Buffer.from(`${name}:${password}`).toString('base64');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { Authorization: auth }, perMessageDeflate: false });
    const client = new ScriptedMsgpackClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Next message from the master (optionally skipping to one matching `pred`). */
  async next(pred: (m: MsgpackMessage) => boolean = () => true, timeoutMs = 5000): Promise<MsgpackMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idx = this.inbox.findIndex(pred);
      if (idx >= 0) return this.inbox.splice(idx, 1)[0];
      if (this.isClosed) throw new Error('connection closed while waiting for a message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a message; inbox: ${JSON.stringify(this.inbox.map((m) => m.op))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Next message with the given op. */
  nextOp(op: string, timeoutMs?: number): Promise<MsgpackMessage> {
    return this.next((m) => m.op === op, timeoutMs);
  }

  /** The response to our request `seq`. */
  responseTo(seq: number, timeoutMs?: number): Promise<MsgpackMessage> {
    return this.next((m) => m.op === 'response' && m.seq_number === seq, timeoutMs);
  }

  /** Messages received and not consumed yet. */
  get pendingMessages(): readonly MsgpackMessage[] {
    return this.inbox;
  }

  sendRaw(payload: Buffer | Uint8Array): void {
    this.ws.send(payload, { binary: true });
  }

  send(msg: MsgpackMessage): void {
    this.sendRaw(encodeMessage(msg));
  }

  /** Send a request with our next seq_number; returns that number. */
  request(op: string, fields: MsgpackMessage = {}): number {
    const seq = this.seq++;
    this.send({ op, ...fields, seq_number: seq });
    return seq;
  }

  respond(to: MsgpackMessage, result: unknown = null): void {
    this.send({ op: 'response', seq_number: to.seq_number, result });
  }

  respondError(to: MsgpackMessage, text: string): void {
    this.send({ op: 'response', seq_number: to.seq_number, result: text, is_exception: true });
  }

  /** Answer a setup command (listdir/mkdir/stat/rmdir) like the stock worker: updates, complete, response. */
  finishCommand(start: MsgpackMessage, updates: Array<[string, unknown]>): void {
    const commandId = start.command_id as string;
    this.request('update', { command_id: commandId, args: updates });
    this.request('complete', { command_id: commandId, args: null });
    this.respond(start);
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export const WORKER_BASEDIR = '/srv/worker';

export function workerInfo(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    admin: 'Test <test@example.org>',
    host: 'test host',
    environ: { HOME: '/home/tester', PATH: '/usr/bin:/bin' },
    system: 'posix',
    basedir: WORKER_BASEDIR,
    numcpus: 2,
    version: '3.7.0',
    worker_commands: { shell: '3.1', upload_file: '3.1', download_file: '3.1' },
    delete_leftover_dirs: false,
    ...extra,
  };
}

/**
 * Play the worker side of the connection setup (msgpack.md §4) and return every message
 * the master sent, in order.
 */
export async function playAttach(
  client: ScriptedMsgpackClient,
  opts: { info?: Record<string, unknown>; files?: string[]; stats?: Record<string, number>; builderCount?: number } = {},
): Promise<MsgpackMessage[]> {
  const seen: MsgpackMessage[] = [];
  const take = async (): Promise<MsgpackMessage> => {
    const m = await client.next((x) => x.op !== 'response');
    seen.push(m);
    return m;
  };
  client.respond(await take()); // print attached
  client.respond(await take(), opts.info ?? workerInfo()); // get_worker_info
  client.respond(await take()); // set_worker_settings
  let prints = 0;
  while (prints < (opts.builderCount ?? 1)) {
    const m = await take();
    if (m.op === 'print') {
      client.respond(m);
      prints++;
      continue;
    }
    if (m.op !== 'start_command') throw new Error(`unexpected op during attach: ${String(m.op)}`);
    const name = m.command_name;
    const args = m.args as Record<string, unknown>;
    if (name === 'listdir')
      client.finishCommand(m, [
        ['files', opts.files ?? []],
        ['rc', 0],
        ['elapsed', 0.001],
      ]);
    else if (name === 'stat') {
      const p = String(args.path);
      const mode = opts.stats?.[p.slice(p.lastIndexOf('/') + 1)] ?? 0o100644;
      client.finishCommand(m, [
        ['stat', [mode, 1, 1, 1, 0, 0, 0, 0, 0, 0]],
        ['rc', 0],
        ['elapsed', 0.001],
      ]);
    } else
      client.finishCommand(m, [
        ['rc', 0],
        ['elapsed', 0.001],
      ]);
  }
  return seen;
}
