import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigurationDoc } from './config-doc.js';
import { SETTINGS, envName, flagName } from './config.js';

describe('docs/configuration.md', () => {
  it('is current with the settings table (regenerate with npx tsx scripts/gen-config-doc.ts)', () => {
    expect(readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')).toBe(renderConfigurationDoc());
  });
  it('names every setting by flag, environment variable and config key', () => {
    const doc = renderConfigurationDoc();
    for (const s of SETTINGS) {
      expect(doc).toContain(`--${flagName(s.key)}`);
      expect(doc).toContain(envName(s.key));
      expect(doc).toContain(`\`${s.key}\``);
    }
  });
});
