// What a command group of the `tessera` CLI is, apart from the runner (main.ts) that picks
// one: its signature, its input and output, and the error that means "wrong usage" (exit
// code 2 and the help). A leaf, so the command modules and the runner import it, not each other.
import type { Config } from '../config.ts';

/** Wrong arguments: the runner prints the message and the help, and exits with 2. */
export class UsageError extends Error {}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  readStdin(): Promise<string>;
}

export type Command = (args: string[], config: Config, io: CliIo, flags: { json: boolean }) => Promise<void>;
