/**
 * End to end: a snapshot and a point in time restored into the cluster they came from (issue
 * 20), on the test engine (Patroni by default). The scenario is test/helpers/inplace-scenario.ts,
 * shared with restore-in-place-local.test.ts (the local engine).
 */
import { inPlaceScenario } from '../helpers/inplace-scenario.js';

inPlaceScenario();
