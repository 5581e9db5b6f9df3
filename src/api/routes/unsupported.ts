/**
 * The DWS v2 SDK operations dwsbox does not serve (D28): each has a route that authenticates
 * and authorizes like every other (GET reads, the rest mutate) and then answers
 * `400 DWS.9901` naming the operation and why — never `404 APIGW.0101`, never an invented
 * success. The table below is the one place that says which and why, grouped by family:
 * `planned` families can be real on PostgreSQL and will be; the others have no local meaning.
 * `test/fixtures/dws-v2-operations.tsv` lists every SDK operation; `test/api/sdk-coverage.test.ts`
 * keeps that list, these routes, the real ones and docs/api.md in step.
 */
import type { FastifyPluginAsync, HTTPMethods } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { errorResponses } from '../schemas/primitives.js';

/** An SDK operation: its name, method and path exactly as the SDK writes them. */
type Op = readonly [name: string, method: HTTPMethods, path: string];

interface Family {
  /** true: PostgreSQL can make it real and it is planned; false: it has no local meaning */
  planned: boolean;
  why: string;
  ops: readonly Op[];
}

const PLANNED = 'not implemented yet; it is planned';

export const UNSUPPORTED_FAMILIES: Record<string, Family> = {
  // ---- planned: PostgreSQL can make these real (D28 and the decisions named)
  monitoring: {
    planned: true,
    why: `${PLANNED} (D29: the cluster's disk as DWS's volume figures; the members' disks are in ListHostDisk, from the metrics history)`,
    ops: [['ShowClusterVolume', 'GET', '/v1/{project_id}/clusters/{cluster_id}/volume']],
  },

  // ---- no local meaning
  'storage expansion': {
    planned: false,
    why: "a node's storage is the host's file system; there is no disk to expand",
    ops: [
      ['ExpandInstanceStorage', 'POST', '/v1.0/{project_id}/clusters/{cluster_id}/expand-instance-storage'],
      ['ShowClusterStorageExpandRange', 'GET', '/v1/{project_id}/clusters/{cluster_id}/storage-expand-range'],
    ],
  },
  'elastic IPs': {
    planned: false,
    why: 'there are no elastic IPs; clusters listen on addresses of this host',
    ops: [
      ['AssociateEip', 'POST', '/v2/{project_id}/clusters/{cluster_id}/eips/{eip_id}'],
      ['DisassociateEip', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/eips/{eip_id}'],
    ],
  },
  'load balancers': {
    planned: false,
    why: "there are no load balancers; the endpoints in the cluster detail (the cluster's router on the Patroni engine) are its endpoints",
    ops: [
      ['AssociateElb', 'POST', '/v2/{project_id}/clusters/{cluster_id}/elbs/{elb_id}'],
      ['DisassociateElb', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/elbs/{elb_id}'],
      ['ListElbs', 'GET', '/v2/{project_id}/clusters/{cluster_id}/elbs'],
    ],
  },
  'private DNS': {
    planned: false,
    why: 'there is no private DNS zone; the endpoints in the cluster detail are addresses on this host',
    ops: [
      ['CreateClusterDns', 'POST', '/v1.0/{project_id}/clusters/{cluster_id}/dns'],
      ['UpdateClusterDns', 'PUT', '/v1.0/{project_id}/clusters/{cluster_id}/dns'],
      ['DeleteClusterDns', 'DELETE', '/v1.0/{project_id}/clusters/{cluster_id}/dns'],
    ],
  },
  'LTS logs': {
    planned: false,
    why: "there is no Log Tank Service or OBS to ship logs to; each node's log is under the data directory (clusters/<id>/node<i>/)",
    ops: [
      ['EnableLtsLogs', 'POST', '/v1/{project_id}/clusters/{cluster_id}/lts-logs/enable'],
      ['DisableLtsLogs', 'POST', '/v1/{project_id}/clusters/{cluster_id}/lts-logs/disable'],
      ['ListLtsLogs', 'GET', '/v1/{project_id}/clusters/{cluster_id}/lts-logs'],
    ],
  },
  'KMS encryption': {
    planned: false,
    why: 'there is no KMS; data files are not encrypted with a managed key (the secrets dwsbox keeps are sealed under its master key)',
    ops: [
      ['EncryptCluster', 'POST', '/v2/{project_id}/clusters/{cluster_id}/encrypt'],
      ['RotateKey', 'POST', '/v1/{project_id}/clusters/{cluster_id}/rotate-key'],
      ['ShowClusterEncryptInfo', 'GET', '/v1/{project_id}/clusters/{cluster_id}/encrypt-info'],
    ],
  },
  'dedicated storage pools': {
    planned: false,
    why: "there are no dedicated storage pools; nodes use the host's disk",
    ops: [['ListDssPools', 'GET', '/v1.0/{project_id}/dss-pools']],
  },
  'logical clusters': {
    planned: false,
    why: "logical clusters partition a GaussDB cluster's data nodes; a dwsbox cluster is one PostgreSQL primary with hot standbys",
    ops: [
      ['ConvertToLogicalCluster', 'POST', '/v2/{project_id}/clusters/{cluster_id}/convert-to-logical-cluster/{name}'],
      ['EnableLogicalCluster', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/enable'],
      ['CreateLogicalCluster', 'POST', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters'],
      ['ListLogicalClusters', 'GET', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters'],
      ['UpdateLogicalCluster', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/{logical_cluster_id}'],
      ['DeleteLogicalCluster', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/{logical_cluster_id}'],
      ['RestartLogicalCluster', 'POST', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/{logical_cluster_id}/restart'],
      ['ShrinkLogicalCluster', 'POST', '/v1/{project_id}/clusters/{cluster_id}/logical-clusters/{logical_cluster_id}/shrink'],
      ['ListLogicalClusterRings', 'GET', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/rings'],
      ['ListLogicalClusterTasks', 'GET', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/tasks'],
      ['ListLogicalClusterVolumes', 'GET', '/v2/{project_id}/clusters/{cluster_id}/logical-clusters/volumes'],
      ['CreateLogicalClusterPlan', 'POST', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans'],
      ['ListLogicalClusterPlans', 'GET', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans'],
      ['UpdateLogicalClusterPlan', 'PUT', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans/{plan_id}'],
      ['DeleteLogicalClusterPlan', 'DELETE', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans/{plan_id}'],
      ['EnableLogicalClusterPlan', 'POST', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans/{plan_id}/enable'],
      ['DisableLogicalClusterPlan', 'POST', '/v1/{project_id}/clusters/{cluster_id}/logical-cluster-plans/{plan_id}/disable'],
    ],
  },
  'coordinators and rings': {
    planned: false,
    why: 'a cluster has no coordinators, shards or rings: it is one primary and hot standbys, listed as nodes in the cluster detail',
    ops: [
      ['ListClusterCn', 'GET', '/v1.0/{project_id}/clusters/{cluster_id}/cns'],
      ['BatchCreateClusterCn', 'POST', '/v1.0/{project_id}/clusters/{cluster_id}/cns/batch-create'],
      ['BatchDeleteClusterCn', 'POST', '/v1.0/{project_id}/clusters/{cluster_id}/cns/batch-delete'],
      ['ListTopoRings', 'GET', '/v2/{project_id}/clusters/{cluster_id}/topo/rings'],
    ],
  },
  'workload management': {
    planned: false,
    why: "resource pools and workload plans are GaussDB's workload manager; PostgreSQL has no equivalent",
    ops: [
      ['CreateClusterWorkload', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload'],
      ['ListClusterWorkload', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload'],
      ['AddWorkloadQueue', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/workload/queues'],
      ['ListWorkloadQueue', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/queues'],
      ['DeleteWorkloadQueue', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/workload/queues'],
      ['ShowWorkloadQueue', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}'],
      ['UpdateQueueBaseInfo', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}'],
      ['UpdateQueueResources', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}/resources'],
      ['ListWorkloadQueueUsers', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}/users'],
      ['AddQueueUserList', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}/users/batch-create'],
      ['DeleteQueueUserList', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/queues/{queue_name}/users/batch-delete'],
      ['AddWorkloadRule', 'POST', '/v1/{project_id}/clusters/{cluster_id}/workload/rules'],
      ['ListWorkloadRules', 'GET', '/v1/{project_id}/clusters/{cluster_id}/workload/rules'],
      ['UpdateWorkloadRule', 'PUT', '/v1/{project_id}/clusters/{cluster_id}/workload/rules/{rule_name}'],
      ['DeleteWorkloadRule', 'DELETE', '/v1/{project_id}/clusters/{cluster_id}/workload/rules/{rule_name}'],
      ['CreateWorkloadPlan', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/plans'],
      ['ListWorkloadPlans', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/plans'],
      ['ShowWorkloadPlan', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}'],
      ['DeleteWorkloadPlan', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}'],
      ['StartWorkloadPlan', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/start'],
      ['StopWorkloadPlan', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stop'],
      ['ListPlanExecLogs', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/logs'],
      ['SwitchPlanStage', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stage-switch'],
      ['AddWorkloadPlanStage', 'POST', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stages'],
      ['ShowWorkloadPlanStage', 'GET', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stages/{stage_id}'],
      ['UpdateWorkloadPlanStage', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stages/{stage_id}'],
      ['DeleteWorkloadPlanStage', 'DELETE', '/v2/{project_id}/clusters/{cluster_id}/workload/plans/{plan_id}/stages/{stage_id}'],
    ],
  },
  'schema space limits': {
    planned: false,
    why: 'schema space limits are a GaussDB feature; PostgreSQL has no per-schema size limit',
    ops: [['UpdateSchemas', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/databases/{database_name}/schemas']],
  },
  redistribution: {
    planned: false,
    why: 'standbys hold full copies and there are no shards, so there is nothing to redistribute',
    ops: [
      ['ExecuteRedistributionCluster', 'POST', '/v2/{project_id}/clusters/{cluster_id}/redistribution'],
      ['ShowClusterRedistribution', 'GET', '/v2/{project_id}/clusters/{cluster_id}/redistribution'],
      ['ListRedistributionSchema', 'GET', '/v2/{project_id}/clusters/{cluster_id}/redistribution/schemas'],
      ['StopRedistribution', 'POST', '/v2/{project_id}/clusters/{cluster_id}/redistribution/suspend'],
      ['RestoreRedistribution', 'POST', '/v2/{project_id}/clusters/{cluster_id}/redistribution/recovery'],
      ['SetRedistributionPriority', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/redistribution/priority'],
      ['UpdateRedistributionConfigurations', 'PUT', '/v2/{project_id}/clusters/{cluster_id}/redistribution/configurations'],
    ],
  },
  'idle nodes': {
    planned: false,
    why: 'there are no idle, pre-made nodes: ResizeCluster makes the nodes it adds and ShrinkCluster removes them',
    ops: [
      ['ResizeClusterWithExistedNodes', 'POST', '/v2/{project_id}/clusters/{cluster_id}/resize-with-existed-nodes'],
      ['ResizePreparation', 'POST', '/v1/{project_id}/clusters/{cluster_id}/resize-with-existed-nodes/preparation'],
      ['ShowResizePreparation', 'GET', '/v1/{project_id}/clusters/{cluster_id}/resize-with-existed-nodes/preparation'],
      ['DeleteClusterNodes', 'POST', '/v2/{project_id}/clusters/{cluster_id}/nodes/delete'],
    ],
  },
  upgrades: {
    planned: false,
    why: 'the host has one PostgreSQL version (15); there is no other version to upgrade to',
    ops: [
      ['ListUpdatableVersion', 'GET', '/v1/{project_id}/clusters/{cluster_id}/upgrade-management/avail-versions'],
      ['ListUpdateRecord', 'GET', '/v1/{project_id}/clusters/{cluster_id}/upgrade-management/records'],
      ['ExecuteClusterUpgradeAction', 'POST', '/v1/{project_id}/clusters/{cluster_id}/upgrade-management/action'],
    ],
  },
  'external data sources': {
    planned: false,
    why: 'external data sources connect a cluster to MRS or OBS, which do not exist here',
    ops: [
      ['CreateDataSource', 'POST', '/v1.0/{project_id}/clusters/{cluster_id}/ext-data-sources'],
      ['ListDataSource', 'GET', '/v1.0/{project_id}/clusters/{cluster_id}/ext-data-sources'],
      ['UpdateDataSource', 'PUT', '/v1.0/{project_id}/clusters/{cluster_id}/ext-data-sources/{ext_data_source_id}'],
      ['DeleteDataSource', 'DELETE', '/v1.0/{project_id}/clusters/{cluster_id}/ext-data-sources/{ext_data_source_id}'],
    ],
  },
  'cluster pre-check': {
    planned: false,
    why: 'create the cluster instead: capacity, quotas and names are checked before anything is built',
    ops: [['CheckCluster', 'POST', '/v2/{project_id}/cluster-precheck']],
  },
};

export interface UnsupportedOperation {
  name: string;
  method: HTTPMethods;
  /** as the SDK writes it, `{name}` placeholders */
  path: string;
  family: string;
  planned: boolean;
  why: string;
}

/** Every unsupported operation, flat (the docs script and the tests read it). */
export const UNSUPPORTED_OPERATIONS: UnsupportedOperation[] = Object.entries(UNSUPPORTED_FAMILIES).flatMap(([family, f]) =>
  f.ops.map(([name, method, path]) => ({ name, method, path, family, planned: f.planned, why: f.why })),
);

/** One route per unsupported operation: authenticated like any other, then 400 DWS.9901. */
export const unsupportedRoutes = (): FastifyPluginAsync => async (app) => {
  for (const op of UNSUPPORTED_OPERATIONS) {
    const what = `${op.name} (${op.method} ${op.path})`;
    app.route({
      method: op.method,
      url: op.path.replace(/\{([a-z_]+)\}/g, ':$1'),
      config: { auth: op.method === 'GET' ? 'read' : 'mutate' },
      schema: {
        tags: ['not supported'],
        summary: `${op.name}: not supported by dwsbox (${op.planned ? 'planned' : 'no local meaning'})`,
        description: op.why,
        response: { ...errorResponses },
      },
      handler: async (): Promise<never> => {
        throw new AppError('NOT_SUPPORTED', { args: [what, op.why] });
      },
    });
  }
};
