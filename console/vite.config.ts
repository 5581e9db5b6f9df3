/**
 * The web console's build: a Preact single-page app served by the service at /console/
 * (src/api/routes/console.ts). Built by `npm run build:console` (scripts/build-console.mjs),
 * which type-checks with this folder's tsconfig.json first.
 */
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // one small bundle; no source maps shipped with the service
    sourcemap: false,
  },
  server: {
    // `npx vite --config console/vite.config.ts` during development: the API of a local `dwsbox serve`
    proxy: { '^/(v1|v1\\.0|v2|v3|dwsbox)/': 'http://127.0.0.1:7480' },
  },
});
