// Loaded into a soak target with `--expose-gc --import` (soak.mjs does it; never in production): on
// SIGUSR2 the process runs a full, synchronous major GC, so the memory read just after it is what the
// process really retains, not wherever V8's saw-tooth of collectable garbage happened to be.
process.on('SIGUSR2', () => {
  globalThis.gc?.({ type: 'major', execution: 'sync' });
});
