import { CommandError, ERR } from '../errors.js';
import { PyFloat, PyTuple } from '../values.js';
import type { CommandArgs } from './context.js';

/**
 * Typed readers for command arguments. A missing required argument throws
 * CommandError "<Command> is missing args: a, b" (Python `commands/base.py
 * Command.__init__` raises `ValueError` with that text); a value of the wrong type throws
 * CommandError with code ERR_BAD_ARGS. Two families: the shell command's readers
 * (`str`, `optNum`, ...), where `null` counts as absent like Python's `args.get(name)`
 * defaulting; and the file and transfer commands' readers (`stringArg`, ...), which
 * name the command in their messages and check up front what Python would only hit
 * later as a crash.
 */

/** Python's `requiredArgs` check: throws when any of `names` is not a key of `args` (presence, not value; a null value counts as present). */
export function requireArgs(command: string, args: CommandArgs, names: readonly string[]): void {
  const missing = names.filter((n) => !Object.prototype.hasOwnProperty.call(args, n));
  if (missing.length > 0) throw new CommandError(`${command} is missing args: ${missing.join(', ')}`, ERR.MISSING_ARGS);
}

function bad(name: string, want: string, value: unknown): CommandError {
  const got = value === null ? 'None' : Array.isArray(value) ? 'list' : typeof value;
  return new CommandError(`argument '${name}' must be ${want}, not ${got}`, ERR.BAD_ARGS);
}

function present(args: CommandArgs, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(args, name) && args[name] !== undefined && args[name] !== null;
}

/** Unwraps PyFloat and integral bigints so numbers read the same from both codecs. */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof PyFloat) return value.value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  return undefined;
}

export function str(args: CommandArgs, name: string): string {
  const v = args[name];
  if (typeof v !== 'string') throw v === undefined ? new CommandError(`missing args: ${name}`, ERR.MISSING_ARGS) : bad(name, 'a string', v);
  return v;
}

export function optStr(args: CommandArgs, name: string): string | undefined {
  return present(args, name) ? str(args, name) : undefined;
}

export function num(args: CommandArgs, name: string): number {
  const v = numeric(args[name]);
  if (v === undefined || !Number.isFinite(v)) {
    throw args[name] === undefined ? new CommandError(`missing args: ${name}`, ERR.MISSING_ARGS) : bad(name, 'a number', args[name]);
  }
  return v;
}

export function optNum(args: CommandArgs, name: string): number | undefined {
  return present(args, name) ? num(args, name) : undefined;
}

/** An integer (Python `int`); floats with a fractional part are refused. */
export function optInt(args: CommandArgs, name: string): number | undefined {
  const v = optNum(args, name);
  if (v !== undefined && !Number.isInteger(v)) throw bad(name, 'an integer', args[name]);
  return v;
}

/** Python truthiness for flags the master may send as bool or 0/1 (msgpack coerces want_stdout to 1/0). */
export function optBool(args: CommandArgs, name: string, dflt: boolean): boolean {
  if (!present(args, name)) return dflt;
  const v = args[name];
  if (typeof v === 'boolean') return v;
  const n = numeric(v);
  if (n !== undefined) return n !== 0;
  if (typeof v === 'string') return v.length > 0;
  throw bad(name, 'a boolean', v);
}

/** A list (or a PB tuple) of values. */
export function optList(args: CommandArgs, name: string): unknown[] | undefined {
  if (!present(args, name)) return undefined;
  const v = args[name];
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return [...v.items];
  throw bad(name, 'a list', v);
}

/** A list of strings; a single string is accepted as a one-element list (the `dir` of mkdir may be either). */
export function strList(args: CommandArgs, name: string): string[] {
  const v = args[name];
  if (typeof v === 'string') return [v];
  const list = optList(args, name);
  if (list === undefined) throw new CommandError(`missing args: ${name}`, ERR.MISSING_ARGS);
  return list.map((item, i) => {
    if (typeof item !== 'string') throw bad(`${name}[${i}]`, 'a string', item);
    return item;
  });
}

/** A str-keyed map (dict). */
export function optDict(args: CommandArgs, name: string): Record<string, unknown> | undefined {
  if (!present(args, name)) return undefined;
  const v = args[name];
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof PyTuple) && !(v instanceof PyFloat)) {
    return v as Record<string, unknown>;
  }
  throw bad(name, 'a dict', v);
}

// ---- the file and transfer commands' readers: "<Class>: argument 'x' must be ..., got ..." ----

function badArg(className: string, name: string, expected: string, value: unknown): CommandError {
  const shown = value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value;
  return new CommandError(`${className}: argument '${name}' must be ${expected}, got ${shown}`, ERR.BAD_ARGS);
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
