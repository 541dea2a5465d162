import { PACKAGE_VERSION } from '../util/package-root.js';

/** The worker's version, reported by `getVersion`, in `getWorkerInfo` and by `--version`: the package version. */
export const WORKER_VERSION: string = PACKAGE_VERSION;
