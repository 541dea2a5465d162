import type { CommandFactory } from './context.js';
import { fsCommandFactories } from './fs.js';
import { shellCommandFactory } from './shell.js';
import { transferCommandFactories } from './transfer.js';
import { COMMAND_VERSION } from './version.js';

/**
 * The commands this worker runs (Python `commands/registry.py`): `shell`, the transfers
 * under their PB names (`uploadFile`, ...) and the snake_case names msgpack masters use
 * (`upload_file`, ...), and the fs commands.
 */
export interface Registry {
  get(name: string): CommandFactory | undefined;
  /** Command name → version, what `getCommands` answers (every name, aliases included). */
  versions(): Record<string, string>;
}

export { COMMAND_VERSION } from './version.js';

/** `uploadFile` → `upload_file`. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

export function createRegistry(): Registry {
  const factories = new Map<string, CommandFactory>();
  const add = (name: string, factory: CommandFactory): void => {
    factories.set(name, factory);
    const alias = snakeCase(name);
    if (alias !== name) factories.set(alias, factory);
  };
  add('shell', shellCommandFactory);
  for (const [name, factory] of Object.entries(transferCommandFactories)) add(name, factory);
  for (const [name, factory] of Object.entries(fsCommandFactories)) add(name, factory);
  return {
    get: (name) => factories.get(name),
    versions: () => Object.fromEntries([...factories.keys()].map((name) => [name, COMMAND_VERSION])),
  };
}
