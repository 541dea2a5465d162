/** Where the CLI prints (stdout lines); tests capture it. */
export type Print = (line: string) => void;

export const printStdout: Print = (line) => void process.stdout.write(line + '\n');

/** A command-line usage problem: printed as `<argv0>:  <message>`, a blank line and the help, exit 1. */
export class UsageError extends Error {}
