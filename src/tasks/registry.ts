/** Task kind → definition. A new kind of task is a new definition here, not new machinery. */
import type { TaskDefinition } from './definition.js';
import { clusterCreate } from './definitions/cluster-create.js';
import { clusterRestore } from './definitions/cluster-restore.js';
import { clusterRestoreInPlace } from './definitions/cluster-restore-in-place.js';
import { tableRestore } from './definitions/table-restore.js';
import { clusterDelete, clusterRestart, clusterStart, clusterStop } from './definitions/cluster-lifecycle.js';
import { clusterScaleIn, clusterScaleOut } from './definitions/cluster-scale.js';
import { clusterSwitchover } from './definitions/cluster-switchover.js';
import { clusterRepair } from './definitions/cluster-repair.js';
import { clusterConfigure } from './definitions/cluster-configure.js';
import { snapshotCreate } from './definitions/snapshot-create.js';
import { snapshotExpire } from './definitions/snapshot-expire.js';
import { snapshotCopy } from './definitions/snapshot-copy.js';
import { drDelete, drFailover, drPause, drRecover, drStart, drSwitchover } from './definitions/disaster-recovery.js';

export function createRegistry(): ReadonlyMap<string, TaskDefinition<never>> {
  const defs = [
    clusterCreate,
    clusterDelete,
    clusterRestart,
    clusterStart,
    clusterStop,
    snapshotCreate,
    snapshotExpire,
    snapshotCopy,
    clusterScaleOut,
    clusterScaleIn,
    clusterSwitchover,
    clusterRepair,
    clusterConfigure,
    clusterRestore,
    clusterRestoreInPlace,
    tableRestore,
    drStart,
    drPause,
    drDelete,
    drSwitchover,
    drFailover,
    drRecover,
  ] as unknown as TaskDefinition<never>[];
  return new Map(defs.map((d) => [d.kind, d]));
}
