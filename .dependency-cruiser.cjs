/**
 * Imports point one way (docs/architecture.md): a module may import from its own layer or any layer
 * below it, never from a layer above. `npm run lint` runs this, type-only imports included.
 */

// Lowest first. A directory (or top-level file) under src/ belongs to exactly one layer.
const LAYERS = [
  ['types', 'errors', 'version.ts'],
  ['core'],
  ['config'],
  ['providers', 'dialects', 'upstream', 'backends', 'db', 'resilience', 'observability'],
  ['services', 'pipeline'],
  ['plugins', 'routes'],
  ['app.ts', 'server.ts', 'worker.ts', 'cli.ts', 'admin-cli.ts', 'admin-cli-usage.ts'],
];

const pathOf = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})($|/)`;

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${i}-imports-upward`,
  comment: `${layer.join(', ')} may not import from a higher layer (${LAYERS.slice(i + 1)
    .flat()
    .join(', ')})`,
  severity: 'error',
  from: { path: pathOf(layer) },
  to: { path: pathOf(LAYERS.slice(i + 1).flat()) },
}));

// Plugins and routes share a layer but are siblings: neither imports the other. Both get what they
// share from services/pipeline.
const siblings = [
  {
    name: 'plugins-import-routes',
    comment: 'plugins may not import routes',
    severity: 'error',
    from: { path: '^src/plugins/' },
    to: { path: '^src/routes/' },
  },
  {
    name: 'routes-import-plugins',
    comment: 'routes may not import plugins',
    severity: 'error',
    from: { path: '^src/routes/' },
    to: { path: '^src/plugins/' },
  },
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only ones included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-in-a-layer',
      comment: 'every file under src/ belongs to a layer in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: pathOf(LAYERS.flat()) },
      to: {},
    },
    ...upward,
    ...siblings,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    // Type-only imports count: the config/load <-> resolve cycle was type-only.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
