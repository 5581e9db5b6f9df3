/** Renders docs/configuration.md from the settings table (a test checks the file is current). */
import { SETTINGS, envName, flagName } from './config.js';

function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  return `\`${String(v)}\``;
}

export function renderConfigurationDoc(): string {
  const rows = SETTINGS.map(
    (s) =>
      `| \`--${flagName(s.key)}\` | \`${envName(s.key)}\` | \`${s.key}\` | ${s.kind === 'int' ? 'integer' : s.kind === 'number' ? 'number' : s.kind === 'bool' ? 'true/false' : 'string'} | ${show(s.default)} | ${s.description} |`,
  );
  return [
    '# Configuration',
    '',
    '<!-- DO NOT EDIT: generated from src/config/config.ts by `npx tsx scripts/gen-config-doc.ts`; a test keeps it current. -->',
    '',
    'Every setting has one name in three forms: a flag of `npx dwsbox serve` (and of the local commands), an',
    'environment variable, and a key of the JSON config file given with `--config FILE` (or `DWSBOX_CONFIG`).',
    'Precedence: flag > environment > config file > default. A bad value stops start-up with a message that',
    'names the setting and the value (secrets are not echoed).',
    '',
    '| flag | environment | config key | type | default | meaning |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    'Durations are in milliseconds. `projectId`, `accessKey` and `secretKey` go together: with all three set, that',
    'project and an admin key pair for it exist after start; with none, the first start creates a project and an',
    'admin key pair and prints them once. `metricsHost` and `metricsPort` go together too.',
    '',
    'Example config file:',
    '',
    '```json',
    '{ "port": 7480, "dataDir": "/srv/dwsbox", "logLevel": "info", "taskConcurrency": 4 }',
    '```',
    '',
  ].join('\n');
}
