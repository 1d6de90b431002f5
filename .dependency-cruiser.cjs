/**
 * Import rules for src/ and workers/, checked by `npm run lint`.
 *
 * src/ is laid out along the path of a frame: core -> drivers -> capture -> stream -> server ->
 * app. A folder may import from the folders before it on that path, never from those after it
 * (a driver never imports the server; stream/ never imports a front end), and nothing may import
 * in a loop, types included.
 */
const LAYERS = ['core', 'drivers', 'capture', 'stream', 'server', 'app'];

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer}-imports-downstream`,
  comment: `src/${layer}/ may only import from ${LAYERS.slice(0, i).join(', ') || 'nothing else in src'}: ${LAYERS.slice(i + 1).join(', ')} come after it on the frame's path`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import loop: two modules that need each other belong together, or a third one holds what they share.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'front-ends-apart',
      comment: 'The uWebSockets.js and node:http front ends share only what lies in server/ itself.',
      severity: 'error',
      from: { path: '^src/server/(uws|node)/' },
      to: { path: '^src/server/(uws|node)/', pathNot: '^src/server/$1/' },
    },
    {
      name: 'uws-only-in-its-front-end',
      comment: 'Only src/server/uws/ loads uWebSockets.js.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/server/uws/' },
      to: { path: 'uws-js-unofficial|uwebsockets', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-not-from-tests',
      comment: 'src/ and workers/ never import tests or benchmarks.',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { path: '^(test|benchmarks)/' },
    },
    {
      name: 'tests-not-from-benchmarks',
      comment: 'What tests and benchmarks both need lives in test/helpers/ (benchmarks import it); tests never import benchmark scripts.',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^benchmarks/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
