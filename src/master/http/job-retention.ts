/**
 * How much of the past the test master keeps: finished jobs and their logs stay in memory
 * for the API and the page until these limits evict the oldest, so a long-running test
 * master does not grow without bound. (No imports: the CLI reads these for its help.)
 */
export const DEFAULT_MAX_FINISHED_JOBS = 1000;
export const DEFAULT_MAX_FINISHED_LOG_BYTES = 256 * 1024 * 1024;
