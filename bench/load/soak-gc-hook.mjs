// Loaded into a soak target with `--expose-gc --import` (soak.mjs does it; never in production): on
// SIGUSR2 the process runs a full, synchronous GC, so the memory read just after it is what the process
// really retains, not wherever V8's saw-tooth of collectable garbage happened to be. Plain gc(): on
// Node 20, gc({ type: 'major', execution: 'sync' }) ran a scavenge ("testing" in --trace-gc).
process.on('SIGUSR2', () => {
  globalThis.gc?.();
});
