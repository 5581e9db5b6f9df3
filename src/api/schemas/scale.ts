/** Scale-out and scale-in wire schemas (dws-api.md §3.10, §3.11, §3.13; the SDK's models). */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './primitives.js';
import { growCheckText, type GrowProblem } from '../../domain/scale.js';
import type { Lang } from '../../domain/step-names.js';
import type { GrowCheck } from '../../services/scale-service.js';

/** ResizeCluster and CheckGrowCluster share this body (CheckGrowCluster adds logical_cluster_name). */
export const ResizeBody = Type.Object({
  scale_out: Type.Object({
    count: Type.Integer({
      minimum: 1,
      maximum: 256,
      description: 'nodes to add (hot standbys); at least 1 here, where each node is a full copy and no shards exist',
    }),
    subnet_id: Type.Optional(
      Nullable(Type.String({ description: "a UUID; echoed metadata: the new nodes use the cluster's own loopback range" })),
    ),
  }),
  create_node_only: Type.Optional(Nullable(Type.Boolean({ description: 'true is not supported (400)' }))),
  waiting_for_killing: Type.Optional(
    Nullable(Type.Integer({ description: '0 or 30–1200; accepted, no effect: the primary is never restarted' })),
  ),
  auto_redistribute: Type.Optional(
    Nullable(Type.Boolean({ description: 'false is not supported (400): standbys hold a full copy, nothing to redistribute' })),
  ),
  logical_cluster_name: Type.Optional(Nullable(Type.String({ description: 'grow-check only; logical clusters are not supported' }))),
});
export type ResizeBody = Static<typeof ResizeBody>;

const GrowCheckResult = Type.Object({
  pass: Type.Boolean(),
  reason: Type.String({
    description:
      'stable code of the check: CLUSTER_BUSY, CLUSTER_STATUS, CLUSTER_STOPPED, PRIMARY_DOWN, ADDRESS_RANGE, PORT_WILDCARD, ADDRESS_IN_USE, NODE_QUOTA, HOST_NODE_LIMIT, HOST_MEMORY, HOST_DISK, STANDBY_DOWN',
  }),
  required: Type.Boolean({ description: 'true: the scale-out is refused; false: a warning' }),
  desc: Type.String({ description: 'what is wrong, with the figures, in the x-language language' }),
  type: Type.String({ description: 'status, quota, capacity or limit (状态, 配额, 资源, 限制)' }),
});

export const GrowCheckResponse = Type.Object({
  data: Type.Array(GrowCheckResult, {
    description: 'the checks that did not pass (passed ones are omitted, as the real service does); empty: the scale-out can run',
  }),
  note: Type.Object({
    bucket_split_info: Type.Object({
      current_dn_num: Type.Integer(),
      after_scale_out_dn_num: Type.Integer(),
      is_bucket_split: Type.Boolean({ description: 'always false: standbys hold a full copy, no buckets move' }),
    }),
  }),
});

export function growCheckOut(r: GrowCheck, lang: Lang): Static<typeof GrowCheckResponse> {
  const item = (p: GrowProblem) => ({ pass: false, reason: p.reason, required: p.required, ...growCheckText(p, lang) });
  return {
    data: r.problems.map(item),
    note: {
      bucket_split_info: {
        current_dn_num: r.figures.activeNodes,
        after_scale_out_dn_num: r.figures.activeNodes + r.figures.count,
        is_bucket_split: false,
      },
    },
  };
}

export const ShrinkBody = Type.Object({
  shrink_number: Type.Integer({ minimum: 1, description: 'standbys to remove (the highest-numbered); the cluster keeps at least 3 nodes' }),
  online: Type.Optional(Nullable(Type.Boolean({ description: 'accepted; a scale-in here is always online (the primary keeps serving)' }))),
  retry: Type.Optional(Nullable(Type.Boolean({ description: 'accepted; after CLUSTER_SHRINK_FAILED a new request simply runs again' }))),
  need_agency: Type.Optional(Nullable(Type.Boolean({ description: 'accepted, no effect' }))),
  parallel_jobs: Type.Optional(Nullable(Type.Integer({ description: '1–200; accepted, no effect' }))),
  type: Type.Optional(Nullable(Type.String({ description: 'deprecated, ignored' }))),
  force_backup: Type.Optional(Nullable(Type.Boolean({ description: 'deprecated, ignored' }))),
});
export type ShrinkBody = Static<typeof ShrinkBody>;

export const ShrinkCheckQuery = Type.Object({
  shrink_count: Type.Integer({ minimum: 1 }),
  check_item: Type.Optional(Type.String({ description: 'accepted; every check runs' })),
});

export const ShrinkCheckResponse = Type.Object({
  is_passed: Type.Boolean(),
  reason: Type.String({ description: 'why not, when is_passed is false (dwsbox); empty otherwise' }),
});

export const ShrinkNumbersQuery = Type.Object({ logical_cluster_name: Type.Optional(Type.String()) });
export const ShrinkNumbersResponse = Type.Object({
  shrink_sequence: Type.Array(Type.String(), {
    description:
      'the node counts a scale-in accepts now, "1" to nodes − 3, as strings (the SDK\'s ListClusterScaleInNumbersResponse); empty for a 3-node cluster',
  }),
});
