// Writes docs/configuration.md from the settings table in src/config/config.ts.
import { writeFileSync } from 'node:fs';
import { renderConfigurationDoc } from '../src/config/config-doc.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationDoc());
