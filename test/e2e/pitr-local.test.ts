/**
 * End to end: point-in-time restore into a new cluster on the local engine (`LOCAL_ENGINE`):
 * its restored primary recovers to the target itself and its standbys are copies of the
 * never-started restored directory that fetch WAL from the source stanza, so what they replay
 * stops at the target as the primary's does. The scenario is test/helpers/pitr-scenario.ts,
 * shared with pitr.test.ts (the Patroni engine).
 */
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { pitrScenario } from '../helpers/pitr-scenario.js';

pitrScenario({ flags: LOCAL_ENGINE });
