/**
 * The worker as PID 1 of a container. The kernel re-parents every orphaned process to PID 1,
 * which must wait() for it or it stays a zombie; Node can only wait for children it spawned
 * itself, so the worker cannot reap orphans of builds (daemonizing test servers, `make`
 * children of killed steps). An init in front of it (tini, `docker run --init`) does that and
 * forwards SIGTERM/SIGINT to the worker, which drains as usual.
 */
export const PID1_WARNING = 'running as PID 1: orphaned build processes cannot be reaped and will stay zombies; ' + "run the worker under an init process (the image's tini, or `docker run --init`)";

/** The warning to log when `pid` is 1, else undefined. */
export function pid1Warning(pid: number = process.pid): string | undefined {
  return pid === 1 ? PID1_WARNING : undefined;
}
