/**
 * Node-type changes (issue 16: ShowClusterFlavor, ListTargetFlavors, ExecuteFlavorChange).
 * A node type is a set of PostgreSQL settings and a memory and disk budget on this host
 * (node-types.ts); changing it is a SETTING_CONFIGURATION task that applies the new type's
 * settings and restarts every member (services/configuration-service.ts `changeFlavor`). Pure
 * code: a type's settings in pg_settings' units, and the answers the SDK models.
 */
import { AppError } from '../errors/app-error.js';
import { DATASTORE_VERSION, NODE_TYPES, findNodeType, type NodeType } from './node-types.js';
import type { PgSettingRow } from './parameters.js';

/** A node type's PostgreSQL settings, by name, as text ('32MB', '40'). */
export function nodeTypeSettings(t: NodeType): Record<string, string> {
  return Object.fromEntries(Object.entries(t.settings).map(([k, v]) => [k, String(v)]));
}

const UNIT_KB: Record<string, number> = { kB: 1, MB: 1024, GB: 1024 * 1024 };

/**
 * A node type's value in the units pg_settings shows it in (`row.unit`: '8kB' pages, 'kB' or
 * none), as UpdateConfiguration's changes are compared: '32MB' of shared_buffers is '4096'.
 */
export function inSettingUnits(row: PgSettingRow, value: string): string {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(value.trim());
  if (!m) throw new Error(`node type value ${value} of ${row.name} is not a size or a number`);
  if (!m[2] || !row.unit) return m[1]!;
  const unit = /^(\d+)?(kB|MB|GB)$/.exec(row.unit);
  if (!unit) throw new Error(`pg_settings unit ${row.unit} of ${row.name} is not a size`);
  const kb = Number(m[1]) * UNIT_KB[m[2]]!;
  return String(Math.floor(kb / (Number(unit[1] ?? 1) * UNIT_KB[unit[2]!]!)));
}

/** The node type a flavor id (or spec name) names, or 400. */
export function targetNodeType(id: string): NodeType {
  const t = findNodeType(id);
  if (!t)
    throw new AppError('VALIDATION', {
      args: [`flavor ${JSON.stringify(id.slice(0, 64))} is not a node type of this service (ListNodeTypes lists them)`],
    });
  return t;
}

/** The SDK's ClusterFlavorDetailInfo of a cluster of `nodes` members of type `t`. */
export function clusterFlavor(t: NodeType, nodes: number, limits: { min: number; max: number }) {
  return {
    id: t.id,
    spec_name: t.specName,
    current_node: nodes,
    min_node: limits.min,
    max_node: limits.max,
    datastore_version: DATASTORE_VERSION,
    attribute: [
      { code: 'vCPU', value: String(t.vcpus) },
      { code: 'mem', value: String(t.ramGb) },
      ...Object.entries(nodeTypeSettings(t)).map(([code, value]) => ({ code, value })),
    ],
    volume_node: { volume_type: 'LOCAL_DISK', volume_num: 1, capacity: t.diskGb, volume_size: t.diskGb },
  };
}

/** The SDK's FlavorInfoResponse list: every node type `fits` (default: all), the current one marked. */
export function targetFlavors(currentId: string, fits: (t: NodeType) => boolean = () => true) {
  const flavors = NODE_TYPES.filter((t) => t.id === currentId || fits(t)).map((t) => ({
    id: t.id,
    name: t.specName,
    vcpus: String(t.vcpus),
    ram: String(t.ramGb),
    is_current_flavor: t.id === currentId,
  }));
  return { count: flavors.length, flavors };
}
