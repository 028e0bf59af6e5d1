// Preloaded into the lab's Node servers (node --expose-gc --require heap-probe.cjs): on
// SIGUSR2 it runs a full GC and writes process.memoryUsage() to <dir>/<pid>.json, so the lab
// measures live session memory the same way in every Node process without an HTTP route.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.LAB_HEAP_PROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    if (typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    const file = path.join(dir, `${process.pid}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
    fs.renameSync(`${file}.tmp`, file);
  });
}
