/**
 * End to end: restore in place (issue 20) on the local engine (`LOCAL_ENGINE`): the members are
 * plain postmasters, the standbys pg_basebackup copies of the restored primary. The scenario is
 * test/helpers/inplace-scenario.ts, shared with restore-in-place.test.ts (the Patroni engine).
 */
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { inPlaceScenario } from '../helpers/inplace-scenario.js';

inPlaceScenario({ flags: LOCAL_ENGINE });
