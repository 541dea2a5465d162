/**
 * The file and transfer commands' argument readers now live in `../args.ts` with the
 * shell command's; this re-export keeps the transfer commands' imports working.
 */
export { flagArg, optionalIntArg, pathListArg, positiveIntArg, requireArgs, secondsArg, stringArg } from '../args.js';
