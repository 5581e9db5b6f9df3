/** Task routes: the task-details endpoint, ListJobDetails, dwsbox's task list (D12) and faults (D13). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { clusterTime } from '../../domain/time.js';
import type { FaultRecord } from '../../domain/records.js';
import type { AppDeps } from '../app.js';
import { KeptAnswers } from '../kept-answers.js';
import { ClusterParams, errorResponses, ProjectParams } from '../schemas/primitives.js';
import { FaultIn, FaultOut, JobBody, TaskBody, TaskList } from '../schemas/task.js';

const faultOut = (f: FaultRecord) => ({
  id: f.id,
  cluster_id: f.clusterId,
  action_name: f.actionName,
  step: f.step,
  mode: f.mode,
  point: f.point,
  delay_ms: f.delayMs,
  times: f.timesLeft,
  created: clusterTime(f.createdAt),
});

export const taskRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const t = deps.tasks;
    const kept = new KeptAnswers();

    app.get(
      '/v1/:project_id/clusters/:cluster_id/actions/:action_name',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['tasks'],
          summary: 'Query cluster task details (ListClusterActions)',
          description:
            'action_name: GROWING, RESIZE_FAILURE, RESTORING, RESTORING_FAILED, SNAPSHOTTING, SNAPSHOTTING_FAILED, FINE_GRAINED_RESTORING, FINE_GRAINED_RESTORING_FAILED. Step names follow x-language (en-us, zh-cn).',
          params: Type.Object({
            project_id: Type.String({ maxLength: 64 }),
            cluster_id: Type.String({ maxLength: 64 }),
            action_name: Type.String({ maxLength: 64 }),
          }),
          response: { 200: TaskBody, ...errorResponses },
        },
      },
      async (req, reply) =>
        kept.send(
          reply,
          await t.actionDetails(req.params.project_id, req.params.cluster_id, req.params.action_name, req.lang, req.readPoint ?? undefined),
        ),
    );

    app.get(
      '/v1.0/:project_id/job/:job_id',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['tasks'],
          summary: 'Query a job (ListJobDetails)',
          params: Type.Object({ project_id: Type.String({ maxLength: 64 }), job_id: Type.String({ maxLength: 64 }) }),
          response: { 200: JobBody, ...errorResponses },
        },
      },
      async (req, reply) => kept.send(reply, await t.job(req.params.project_id, req.params.job_id, req.readPoint ?? undefined)),
    );

    app.get(
      '/dwsbox/v1/:project_id/clusters/:cluster_id/tasks',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['tasks'],
          summary: 'Every task of a cluster, newest first (dwsbox)',
          params: ClusterParams,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) }),
          response: { 200: TaskList, ...errorResponses },
        },
      },
      async (req) => {
        const tasks = await t.listClusterTasks(
          req.params.project_id,
          req.params.cluster_id,
          req.lang,
          (req.query as { limit?: number }).limit ?? 50,
        );
        return { tasks, count: tasks.length };
      },
    );

    app.get(
      '/dwsbox/v1/:project_id/clusters/:cluster_id/tasks/:task_id',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['tasks'],
          summary: 'One task of a cluster (dwsbox)',
          params: Type.Object({
            project_id: Type.String({ maxLength: 64 }),
            cluster_id: Type.String({ maxLength: 64 }),
            task_id: Type.String({ maxLength: 64 }),
          }),
          response: { 200: TaskBody, ...errorResponses },
        },
      },
      async (req) => t.clusterTask(req.params.project_id, req.params.cluster_id, req.params.task_id, req.lang),
    );

    app.get(
      '/dwsbox/v1/:project_id/tasks/:task_id',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['tasks'],
          summary: 'One task of the project, with its items and steps (dwsbox)',
          description:
            "Any task by its id (a job_id): also one of no cluster, such as a snapshot copy's (CopySnapshot) or a stanza's repository task (DeleteSnapshot). The body is the task-details endpoint's.",
          params: Type.Object({ project_id: Type.String({ maxLength: 64 }), task_id: Type.String({ maxLength: 64 }) }),
          response: { 200: TaskBody, ...errorResponses },
        },
      },
      async (req) => t.projectTask(req.params.project_id, req.params.task_id, req.lang),
    );

    app.post(
      '/dwsbox/v1/:project_id/faults',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['faults'],
          summary: 'Inject a fault into a step (dwsbox, D13)',
          params: ProjectParams,
          body: FaultIn,
          response: { 200: Type.Object({ fault: FaultOut }), ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body;
        const f = await deps.faults.add(req.params.project_id, {
          clusterId: b.cluster_id ?? null,
          actionName: b.action_name,
          step: b.step,
          mode: b.mode,
          ...(b.point ? { point: b.point } : {}),
          delayMs: b.delay_ms ?? null,
          times: b.times ?? null,
        });
        return { fault: faultOut(f) };
      },
    );

    app.get(
      '/dwsbox/v1/:project_id/faults',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['faults'],
          summary: 'List injected faults (dwsbox)',
          params: ProjectParams,
          response: { 200: Type.Object({ faults: Type.Array(FaultOut), count: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => {
        const fs = await deps.faults.list(req.params.project_id);
        return { faults: fs.map(faultOut), count: fs.length };
      },
    );

    app.delete(
      '/dwsbox/v1/:project_id/faults',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['faults'],
          summary: 'Clear every fault of the project (dwsbox)',
          params: ProjectParams,
          response: { 200: Type.Object({ deleted: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => ({ deleted: await deps.faults.clear(req.params.project_id) }),
    );

    app.delete(
      '/dwsbox/v1/:project_id/faults/:fault_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['faults'],
          summary: 'Clear one fault (dwsbox)',
          params: Type.Object({ project_id: Type.String({ maxLength: 64 }), fault_id: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Object({ deleted: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => ({ deleted: await deps.faults.clear(req.params.project_id, req.params.fault_id) }),
    );
  };
