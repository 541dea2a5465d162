import { CommandError } from '../../errors.js';
import type { CommandArgs } from '../context.js';

/**
 * Argument checks shared by the file and transfer commands. The messages follow the
 * Python worker ("MakeDirectory is missing args: paths") so masters and users see the
 * same text; type errors, which Python would hit later as a crash, are reported up front.
 */

/** Python's `requiredArgs` check: a key must be present (a null value counts as present). */
export function requireArgs(className: string, args: CommandArgs, names: readonly string[]): void {
  const missing = names.filter((name) => !Object.prototype.hasOwnProperty.call(args, name));
  if (missing.length > 0) {
    throw new CommandError(`${className} is missing args: ${missing.join(', ')}`, 'ERR_MISSING_ARGS');
  }
}

function badArg(className: string, name: string, expected: string, value: unknown): CommandError {
  const shown = value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value;
  return new CommandError(`${className}: argument '${name}' must be ${expected}, got ${shown}`, 'ERR_BAD_ARGS');
}

export function stringArg(className: string, args: CommandArgs, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw badArg(className, name, 'a non-empty string', value);
  return value;
}

/** A list of paths; a single string is accepted as a one-element list (PB `dir` may be either). */
export function pathListArg(className: string, args: CommandArgs, name: string): string[] {
  const value = args[name];
  if (typeof value === 'string' && value !== '') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '')) return value as string[];
  throw badArg(className, name, 'a list of non-empty strings', value);
}

/** A duration in seconds, or null for "no limit"; absent means `fallback`. */
export function secondsArg(className: string, args: CommandArgs, name: string, fallback: number | null): number | null {
  const value = args[name];
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw badArg(className, name, 'a non-negative number or null', value);
}

/** A positive integer such as `blocksize`. */
export function positiveIntArg(className: string, args: CommandArgs, name: string): number {
  const value = args[name];
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw badArg(className, name, 'a positive integer', value);
}

/** A non-negative integer or null (`maxsize`, `mode`); absent means null. */
export function optionalIntArg(className: string, args: CommandArgs, name: string): number | null {
  const value = args[name];
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw badArg(className, name, 'a non-negative integer or null', value);
}

/** Python truthiness of a flag such as `keepstamp` or `logEnviron`. */
export function flagArg(args: CommandArgs, name: string, fallback: boolean): boolean {
  const value = args[name];
  if (value === undefined) return fallback;
  return Boolean(value) && value !== 0;
}
