#!/usr/bin/env node
// The `dwsbox` command: runs the built code in dist/ (npm run build; the README's set-up does it).
let cli;
try {
  cli = await import('../dist/cli/cli.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/cli.js')) {
    process.stderr.write('dwsbox: not built yet; run `bash scripts/setup.sh` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw e;
}
const code = await cli.main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
