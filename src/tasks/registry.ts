/** Task kind → definition. A new kind of task is a new definition here, not new machinery. */
import type { TaskDefinition } from './definition.js';
import { clusterCreate } from './definitions/cluster-create.js';
import { clusterDelete, clusterRestart, clusterStart, clusterStop } from './definitions/cluster-lifecycle.js';

export function createRegistry(): ReadonlyMap<string, TaskDefinition<never>> {
  const defs = [clusterCreate, clusterDelete, clusterRestart, clusterStart, clusterStop] as unknown as TaskDefinition<never>[];
  return new Map(defs.map((d) => [d.kind, d]));
}
