import { createRequire } from 'node:module';

/**
 * Loads a CommonJS package (ws, msgpackr, pino, commander) as CommonJS. An ESM `import` of
 * one first runs Node's export-name lexer over its sources: for ws alone about 20 ms of every
 * worker start, more than a third of what the package costs (bench/README.md, start-up).
 * Types still come from `import type`.
 */
export const requireCjs = createRequire(import.meta.url);
