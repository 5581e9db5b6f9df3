/** Operations: liveness and readiness, /metrics, the OpenAPI document; and the node types (a static list). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { KeptAnswers } from '../kept-answers.js';
import { NodeTypesResponse, nodeTypesOut } from '../schemas/cluster.js';
import { errorResponses, ProjectParams } from '../schemas/primitives.js';

export const operationsRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    // A static list: built and serialized once (kept-answers.ts).
    const kept = new KeptAnswers();
    const nodeTypes = nodeTypesOut();

    app.get(
      '/v2/:project_id/node-types',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: 'List node types (ListNodeTypes)',
          params: ProjectParams,
          response: { 200: NodeTypesResponse, ...errorResponses },
        },
      },
      async (_req, reply) => kept.send(reply, nodeTypes),
    );
    app.get(
      '/v1.0/:project_id/node_types',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: 'List node types (old path)',
          params: ProjectParams,
          response: { 200: NodeTypesResponse, ...errorResponses },
        },
      },
      async (_req, reply) => kept.send(reply, nodeTypes),
    );

    app.get(
      '/healthz',
      {
        config: { auth: 'public' },
        schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: Type.Object({ status: Type.String() }) } },
      },
      async () => ({ status: 'ok' }),
    );
    app.get(
      '/readyz',
      {
        config: { auth: 'public' },
        schema: {
          tags: ['operations'],
          summary: 'Ready to serve: store, migrations, binaries',
          response: {
            200: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
            503: Type.Object({ status: Type.String(), reason: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
          },
        },
      },
      async (_req, reply) => {
        const r = await deps.readiness.check();
        if (!deps.readiness.accepting)
          return reply.code(503).send({ status: 'unavailable', reason: 'the service is starting or stopping', checks: r.checks });
        if (!r.ready) return reply.code(503).send({ status: 'unavailable', reason: r.reason ?? 'not ready', checks: r.checks });
        return { status: 'ready', checks: r.checks };
      },
    );

    if (deps.metrics) {
      const m = deps.metrics;
      // Authenticated like any API call (AK/SK, X-Auth-Token, Authorization: Bearer), and also
      // Basic ACCESS_KEY:SECRET_KEY, since a Prometheus scrape cannot sign. An operator sees every
      // series; a project's credential only the series labelled with its project_id.
      app.get('/metrics', { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => {
        const p = await deps.auth.authenticate({
          method: req.method,
          url: req.raw.url ?? req.url,
          headers: req.headers,
          rawBody: req.rawBody,
          ip: req.ip,
          allowBasic: true,
        });
        req.principal = p;
        return reply.type(m.contentType).send(p.role === 'operator' ? await m.text() : await m.projectText(p.projectId));
      });
    }

    app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
  };
