/**
 * End to end: point-in-time restore into a new cluster (RestoreCluster with a restore point,
 * and the cluster form), on the test engine (Patroni unless DWSBOX_TEST_ENGINE says otherwise).
 * The scenario is test/helpers/pitr-scenario.ts, shared with pitr-local.test.ts.
 */
import { pitrScenario } from '../helpers/pitr-scenario.js';

pitrScenario();
