/**
 * Podman for the container tests: the repository's own settings (contrib/podman), the local
 * base image (scripts/container-base.sh) and the project's Dockerfile built on it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The base the tests build on: made locally, no registry needed (override: CONTAINER_BASE_IMAGE). */
export const BASE_IMAGE = process.env.CONTAINER_BASE_IMAGE ?? 'localhost/buildbot-worker-ts-base:trixie';
export const IMAGE = 'localhost/buildbot-worker-ts:test';

let storage: { conf: string; note: string } | undefined;

/**
 * The storage configuration contrib/podman/storage-conf.sh picks (the kernel's overlay, else
 * vfs), asked once: scripts/container-base.sh asks the same script, so both use one image store.
 */
function storageConf(): { conf: string; note: string } {
  if (storage) return storage;
  const r = spawnSync(path.join(REPO_ROOT, 'contrib', 'podman', 'storage-conf.sh'), [], { env: { ...process.env, CONTAINERS_CONF: containersConf() }, encoding: 'utf8' });
  const conf = r.status === 0 ? r.stdout.trim() : '';
  return (storage = { conf: conf || path.join(REPO_ROOT, 'contrib', 'podman', 'storage-vfs.conf'), note: (r.stderr ?? '').trim() });
}

const containersConf = () => process.env.CONTAINERS_CONF ?? path.join(REPO_ROOT, 'contrib', 'podman', 'containers.conf');

/** Why the tests use vfs storage instead of overlay, or '' when they use overlay. */
export const storageNote = (): string => storageConf().note;

/** The environment every podman call gets: the repository's containers.conf and storage configuration. */
export function podmanEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF: containersConf(), CONTAINERS_STORAGE_CONF: storageConf().conf };
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why the container tests cannot run here, or undefined when they can. */
export function podmanUnavailable(): string | undefined {
  if (process.env.CONTAINER_TESTS === '0') return 'CONTAINER_TESTS=0 turns the container tests off';
  if (!which('podman')) return 'podman is not installed (apt-get install -y podman runc)';
  if (!which('runc')) return 'runc is not installed (apt-get install -y runc)';
  if (process.getuid?.() !== 0) return 'the container tests run rootful podman: run them as root';
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { env: podmanEnv(), encoding: 'utf8' });
  if (info.status !== 0) return `podman does not work here: ${info.stderr.trim().slice(0, 300)}`;
  const base = podman(['image', 'exists', BASE_IMAGE]);
  // Making the base takes minutes and needs debootstrap and a Debian mirror: the suite runs
  // only once it exists (scripts/container-base.sh makes it; .ci/run calls it).
  if (base.status !== 0) return `no base image ${BASE_IMAGE}: make it with scripts/container-base.sh to run the container tests`;
  return undefined;
}

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run podman to its end (short commands). */
export function podman(args: string[]): Result {
  const r = spawnSync('podman', args, { env: podmanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Run podman without blocking the event loop (builds, waits, stops). */
export function podmanAsync(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('podman', args, { env: podmanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export function ok(r: Result, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr + r.stdout).slice(-4000)}`);
  return r.stdout;
}

/** Make the base image if it is missing (idempotent), then build the project's Dockerfile on it. */
export async function buildImage(): Promise<void> {
  const script = path.join(REPO_ROOT, 'scripts', 'container-base.sh');
  if (podman(['image', 'exists', BASE_IMAGE]).status !== 0) {
    if (!existsSync(script)) throw new Error(`${script} is missing`);
    const made = await new Promise<Result>((resolve) => {
      const child = spawn(script, [BASE_IMAGE], { env: podmanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', (status) => resolve({ status, stdout: out, stderr: '' }));
    });
    ok(made, 'scripts/container-base.sh');
  }
  ok(await podmanAsync(['build', '--pull=never', '--network=host', '--build-arg', `BASE=${BASE_IMAGE}`, '-t', IMAGE, '-f', path.join(REPO_ROOT, 'Dockerfile'), REPO_ROOT]), 'podman build');
}

/** Remove a container, whatever its state. */
export function removeContainer(name: string): void {
  podman(['rm', '--force', '--time', '0', name]);
}
