import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RemoteReader, RemoteWriter } from '../../../src/commands/context.js';
import type { OutputSettings, UpdateEntry } from '../../../src/commands/update.js';
import { ConnectionError } from '../../../src/errors.js';
import { decodeMessage, type MsgpackMessage } from '../../../src/protocol/msgpack.js';
import { RemoteCallError } from '../../../src/engine/msgpack/peer.js';
import { runMsgpackSession } from '../../../src/session/msgpack/session.js';
import { ManualClock } from '../../../src/util/clock.js';
import { float, tuple, type PyValue } from '../../../src/values.js';
import type { CommandChannel, CommandFailure, StartCommandRequest, WorkerHandlers, WorkerInfo } from '../../../src/worker/handlers.js';
import { memoryLogger } from '../pb/fixtures.js';
import { capturedConnection, FakeWebSocket, type CapturedFrame } from './capture.js';

/**
 * Replays the real 3.7 session of the golden capture (conn 2) against the session: the
 * master's messages go in exactly as captured, the fake handlers perform each command's
 * captured requests through the CommandChannel, and every message the session sends must
 * be byte-identical to what the Python worker sent (requests and responses by seq_number).
 */

const capture = capturedConnection(2);
const masterFrames = capture.frames.filter((f) => f.dir === 'm2w');
const workerRequests = capture.frames.filter((f) => f.dir === 'w2m' && f.message.op !== 'response');
const workerResponses = capture.frames.filter((f) => f.dir === 'w2m' && f.message.op === 'response');
const BASEDIR = '/tmp/bbproto/msgpack/worker';

/** The `update` args of the capture as the output pipeline would hand them to the channel. */
export function entriesFromWire(args: unknown): UpdateEntry[] {
  return (args as Array<[string, unknown]>).map(([key, value]): UpdateEntry => {
    const chunk = (v: unknown) => {
      const [text, newlines, times] = v as [string, number[], number[]];
      return { text, newlines, times };
    };
    if (key === 'stdout' || key === 'stderr' || key === 'header') return { kind: 'output', stream: key, chunk: chunk(value) };
    if (key === 'log') {
      const [name, inner] = value as [string, unknown];
      return { kind: 'logfile', name, chunk: chunk(inner) };
    }
    if (key === 'elapsed') return { kind: 'status', key, value: float(value as number) };
    if (key === 'stat') return { kind: 'status', key, value: tuple(...(value as number[])) };
    return { kind: 'status', key, value: value as PyValue };
  });
}

/** `str(failure)` of the capture back into a CommandFailure (first line = value). */
export function failureFromText(text: string): CommandFailure {
  const m = /^\[Failure instance: Traceback: <class '([^']+)'>: ([^\n]*)\n([\s\S]*)\]$/.exec(text);
  if (!m) throw new Error(`not a failure text: ${text}`);
  const type = m[1].includes('.') ? m[1] : `builtins.${m[1]}`;
  return { type, value: m[2], traceback: m[3] };
}

interface Outcomes {
  utimeErrors: unknown[];
  reads: Array<Uint8Array | null>;
}

async function perform(channel: CommandChannel, msg: MsgpackMessage, outcomes: Outcomes): Promise<void> {
  const writer = (): RemoteWriter => channel.writer!;
  const reader = (): RemoteReader => channel.reader!;
  switch (msg.op) {
    case 'update':
      return channel.sendUpdates(entriesFromWire(msg.args));
    case 'complete':
      return channel.complete(msg.args === null ? null : failureFromText(msg.args as string));
    case 'update_upload_file_write':
    case 'update_upload_directory_write':
      return writer().write(msg.args as Uint8Array);
    case 'update_upload_file_close':
      return writer().close();
    case 'update_upload_file_utime':
      try {
        await writer().utime(msg.access_time as number, msg.modified_time as number);
      } catch (err) {
        outcomes.utimeErrors.push(err);
      }
      return;
    case 'update_upload_directory_unpack':
      return writer().unpack();
    case 'update_read_file':
      outcomes.reads.push(await reader().read(msg.length as number));
      return;
    case 'update_read_file_close':
      return reader().close();
    default:
      throw new Error(`no channel call for ${String(msg.op)}`);
  }
}

/** Handlers that play the Python worker's side of each captured command. */
class ReplayHandlers implements WorkerHandlers {
  readonly basedir = BASEDIR;
  readonly prints: string[] = [];
  readonly started: StartCommandRequest[] = [];
  readonly interrupts: Array<[string, string]> = [];
  readonly errors: unknown[] = [];
  readonly outcomes: Outcomes = { utimeErrors: [], reads: [] };
  settings: OutputSettings | undefined;
  shutdownCalls = 0;
  connectionLostCalls = 0;
  private readonly gates = new Map<string, { open: () => void; firstSent: Promise<void> }>();
  private readonly interrupted = new Set(masterFrames.filter((f) => f.message.op === 'interrupt_command').map((f) => f.message.command_id as string));

  constructor(private readonly info: WorkerInfo) {}

  print(message: string): void {
    this.prints.push(message);
  }
  async getWorkerInfo(): Promise<WorkerInfo> {
    return this.info;
  }
  getCommands(): Record<string, string> {
    return {};
  }
  getVersion(): string {
    return '3.7.0';
  }
  setBuilderList(): Promise<Map<string, string>> {
    throw new Error('PB only');
  }
  setWorkerSettings(settings: OutputSettings): void {
    this.settings = settings;
  }

  startCommand(req: StartCommandRequest): void {
    this.started.push(req);
    const script = workerRequests.filter((f) => f.message.command_id === req.commandId);
    let gate: Promise<void> = Promise.resolve();
    let firstSent!: () => void;
    if (this.interrupted.has(req.commandId)) {
      // Like a shell step whose output is still buffered: the first update is the flush of an interrupt (§10).
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      this.gates.set(req.commandId, { open, firstSent: new Promise((r) => (firstSent = r)) });
    }
    void this.run(req, script, gate, () => firstSent?.());
  }

  private async run(req: StartCommandRequest, script: CapturedFrame[], gate: Promise<void>, onFirst: () => void): Promise<void> {
    try {
      await gate;
      for (const [i, f] of script.entries()) {
        await perform(req.channel, f.message, this.outcomes);
        if (i === 0) onFirst();
      }
    } catch (err) {
      this.errors.push(err);
    }
  }

  async interruptCommand(commandId: string, why: string): Promise<void> {
    this.interrupts.push([commandId, why]);
    const g = this.gates.get(commandId);
    if (!g) return;
    g.open();
    await g.firstSent;
  }

  shutdown(): void {
    this.shutdownCalls++;
  }

  connectionLost(): void {
    this.connectionLostCalls++;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('the captured 3.7 session replays byte for byte: every request and response the worker sends', async () => {
  const infoResponse = workerResponses.find((f) => f.message.seq_number === 1)!;
  const handlers = new ReplayHandlers(infoResponse.message.result as WorkerInfo);
  const ws = new FakeWebSocket();
  const sentRequests = new Map<number, Buffer>();
  const sentResponses = new Map<number, Buffer>();
  const requestWaiters = new Map<number, () => void>();
  ws.onSend = (payload) => {
    const m = decodeMessage(payload);
    const seq = m.seq_number as number;
    if (m.op === 'response') {
      assert.equal(sentResponses.has(seq), false, `a second response to ${seq}`);
      sentResponses.set(seq, Buffer.from(payload));
    } else {
      sentRequests.set(seq, Buffer.from(payload));
      requestWaiters.get(seq)?.();
    }
  };
  const { log, lines } = memoryLogger();
  const session = runMsgpackSession(ws.asWebSocket(), {
    transport: { host: '127.0.0.1', port: 1 },
    workername: 'mpworker',
    password: 'mp-secret',
    handlers,
    clock: new ManualClock(),
    log,
    keepaliveSeconds: 0,
  });
  assert.equal(ws.isPaused, false, 'the session resumes the socket once it listens');

  const waitForRequest = (seq: number): Promise<void> =>
    sentRequests.has(seq)
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`the worker never sent request ${seq}; sent: ${[...sentRequests.keys()].join(',')}`)), 2000);
          requestWaiters.set(seq, () => {
            clearTimeout(t);
            resolve();
          });
        });

  for (const f of masterFrames) {
    // A master response can only follow the request it answers.
    if (f.message.op === 'response') await waitForRequest(f.message.seq_number as number);
    ws.deliver(f.payload);
  }
  const masterRequests = masterFrames.filter((f) => f.message.op !== 'response').length;
  for (let i = 0; i < 100 && sentResponses.size < masterRequests; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r)); // shutdown reaches the handlers after its response

  assert.deepEqual(handlers.errors, []);
  assert.equal(sentRequests.size, workerRequests.length);
  for (const f of workerRequests) {
    const seq = f.message.seq_number as number;
    assert.equal(hex(sentRequests.get(seq) ?? Buffer.alloc(0)), hex(f.payload), `request ${seq} (${String(f.message.op)})`);
  }
  assert.equal(sentResponses.size, workerResponses.length);
  for (const f of workerResponses) {
    const seq = f.message.seq_number as number;
    assert.equal(hex(sentResponses.get(seq) ?? Buffer.alloc(0)), hex(f.payload), `response ${seq}`);
  }

  // What the handlers saw.
  assert.deepEqual(handlers.prints, ['attached', 'attached', 'attached', 'attached', 'ping', 'ping', 'ping']);
  assert.deepEqual(handlers.settings, {
    newlineRe: '(\\r\\n|\\r(?=.)|\\033\\[u|\\033\\[[0-9]+;[0-9]+[Hf]|\\033\\[2J|\\x08+)',
    maxLineLength: 4096,
    bufferSize: 65536,
    bufferTimeout: 5,
  });
  const starts = masterFrames.filter((f) => f.message.op === 'start_command');
  assert.deepEqual(
    handlers.started.map((r) => [r.commandId, r.commandName, r.builderName, r.args]),
    starts.map((f) => [f.message.command_id, f.message.command_name, f.message.builder_name, f.message.args]),
    'absolute paths from the master pass unchanged',
  );
  assert.deepEqual(handlers.interrupts, [['10', 'capture: interrupt test']]);
  assert.equal(handlers.shutdownCalls, 1);
  assert.deepEqual(handlers.outcomes.reads, [null], 'the 3.7 read bug: null is end of file');
  assert.equal(lines.filter((l) => String(l.msg).includes('never send download data')).length, 1);
  assert.equal(handlers.outcomes.utimeErrors.length, 1);
  const utimeErr = handlers.outcomes.utimeErrors[0];
  assert.ok(utimeErr instanceof RemoteCallError);
  assert.equal(utimeErr.message, 'FileWriter.remote_utime() takes 2 positional arguments but 3 were given');

  // §11: the Python worker closes after shutdown; here the master drops the link.
  ws.drop();
  const reason = await session.closed;
  assert.ok(reason instanceof ConnectionError);
  assert.equal(handlers.connectionLostCalls, 1);
});

test('the captured failure texts parse back into CommandFailures with dotted type names', () => {
  const failures = workerRequests.filter((x) => x.message.op === 'complete' && x.message.args !== null).map((f) => failureFromText(f.message.args as string));
  assert.deepEqual(
    failures.map((f) => [f.type, f.value]),
    [
      ['buildbot_worker.msgpack.RemoteWorkerError', 'FileWriter.remote_utime() takes 2 positional arguments but 3 were given'],
      ['builtins.FileNotFoundError', "[Errno 2] No such file or directory: '/tmp/bbproto/msgpack/worker/errorbuilder/build/does-not-exist'"],
    ],
  );
});
