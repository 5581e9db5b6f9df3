/** Event routes (D26): ListEvents. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { errorResponses, ProjectParams } from '../schemas/primitives.js';
import { eventOut, ListEventsQuery, ListEventsResponse } from '../schemas/event.js';

export const eventRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      '/v2/:project_id/events',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['events'],
          summary: 'List events (ListEvents)',
          description:
            "The project's cluster events, newest first, each recorded once when it happened (D26). offset and limit as the SDK sends them (offset counts events); source_id, start_time and end_time are dwsbox extensions. count is all the filters cover.",
          params: ProjectParams,
          querystring: ListEventsQuery,
          response: { 200: ListEventsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await deps.events.list(req.params.project_id, {
          clusterId: q.source_id,
          since: q.start_time,
          until: q.end_time,
          limit: q.limit,
          offset: q.offset,
        });
        return { events: r.events.map((x) => eventOut(x.event, x.clusterName)), count: r.count };
      },
    );
  };
