import { spawn } from 'node:child_process';
import net from 'node:net';

/**
 * Physical references measured on this machine in the same run: how fast the bytes can move
 * with nothing but a pipe and a loopback socket, in a separate process like the worker.
 */

/** A node child process running `script` with argv (port, ...args); resolves when it exits 0. */
function runChild(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`reference copy failed (${code}): ${err}`))));
  });
}

type Copied = { bytes: number; seconds: number };

/** A one-connection loopback server; timed from the connection to the end of the data (no process start-up). */
async function sink(): Promise<{ port: number; received: Promise<Copied>; close(): void }> {
  const server = net.createServer();
  let resolveReceived!: (c: Copied) => void;
  const received = new Promise<Copied>((r) => (resolveReceived = r));
  server.on('connection', (sock) => {
    const t0 = performance.now();
    let n = 0;
    sock.on('data', (d) => (n += d.length));
    sock.on('end', () => resolveReceived({ bytes: n, seconds: (performance.now() - t0) / 1000 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}

const PIPE_TO_SOCKET = `
const net = require('node:net'); const { spawn } = require('node:child_process');
const [port, ...cmd] = process.argv.slice(1);
const sock = net.connect(Number(port), '127.0.0.1', () => {
  const c = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  c.stdout.pipe(sock);
});`;

const FILE_TO_SOCKET = `
const net = require('node:net'); const fs = require('node:fs');
const [port, file] = process.argv.slice(1);
const sock = net.connect(Number(port), '127.0.0.1', () => fs.createReadStream(file, { highWaterMark: 1 << 18 }).pipe(sock));`;

const SOCKET_TO_FILE = `
const net = require('node:net'); const fs = require('node:fs');
const [port, file] = process.argv.slice(1);
const sock = net.connect(Number(port), '127.0.0.1');
const out = fs.createWriteStream(file);
sock.pipe(out); out.on('finish', () => process.exit(0));`;

/** Bytes and seconds of `cmd`'s stdout piped into a loopback socket by a separate process. */
export async function pipeToSocket(cmd: string[]): Promise<Copied> {
  const s = await sink();
  try {
    await runChild(PIPE_TO_SOCKET, [String(s.port), ...cmd]);
    return await s.received;
  } finally {
    s.close();
  }
}

/** A file read and sent over a loopback socket by a separate process (upload analogue). */
export async function fileToSocket(file: string): Promise<Copied> {
  const s = await sink();
  try {
    await runChild(FILE_TO_SOCKET, [String(s.port), file]);
    return await s.received;
  } finally {
    s.close();
  }
}

/** `data` sent over a loopback socket to a separate process that writes it to `file` (download analogue). */
export async function socketToFile(data: Buffer, file: string): Promise<Copied> {
  let t0 = 0;
  const server = net.createServer((sock) => {
    t0 = performance.now();
    sock.end(data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    // Timed from the connection to the child's exit after its file is complete.
    await runChild(SOCKET_TO_FILE, [String((server.address() as net.AddressInfo).port), file]);
    return { bytes: data.length, seconds: (performance.now() - t0) / 1000 };
  } finally {
    server.close();
  }
}
