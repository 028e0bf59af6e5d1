// Preloaded into the lab's Node servers (node --expose-gc --import heap-probe.mjs): on
// SIGUSR2 it runs a full GC and writes process.memoryUsage() to <dir>/<pid>.json, so the lab
// measures live session memory the same way in every Node process without an HTTP route.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.env.LAB_HEAP_PROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const file = path.join(dir, `${process.pid}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
    fs.renameSync(`${file}.tmp`, file);
  });
}
