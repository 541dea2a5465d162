#!/usr/bin/env node
// Entry point of the installed CLI: runs the bundle of the compiled JavaScript (dist/bundle,
// made by scripts/bundle.js in `npm run build`), never a TypeScript loader.
import { main } from '../dist/bundle/main.js';
main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
