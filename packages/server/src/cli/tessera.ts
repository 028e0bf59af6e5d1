#!/usr/bin/env node
// The `tessera` command's entry point. It only wires the process to runCli, so the same file
// runs from sources (tsx) and compiled (dist/cli/tessera.js) with no "am I the entry point?" guess.
import { runCli, type CliIo } from './main.ts';

const io: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};
process.exitCode = await runCli(process.argv.slice(2), io);
