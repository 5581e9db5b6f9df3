/**
 * The registered hosts of several-hosts operation (issue 18, D27), read by an operator
 * credential: each asked over mutual TLS now (state, and what its agent reports). Registering
 * and removing hosts is the CLI's (`dwsbox hosts add|remove` on the service's data directory):
 * it writes the agent's key, which never travels through the API.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import { etcdMemberOut, hostOut } from '../../services/host-service.js';
import type { AppDeps } from '../app.js';
import { errorResponses } from '../schemas/primitives.js';

const HostReport = Type.Object({
  hostname: Type.String(),
  addresses: Type.Array(Type.String()),
  cpus: Type.Integer(),
  mem_total_bytes: Type.Integer(),
  mem_available_bytes: Type.Integer(),
  disk_total_bytes: Type.Integer(),
  disk_free_bytes: Type.Integer(),
});
const HostOut = Type.Object({
  name: Type.String(),
  availability_zone: Type.String(),
  address: Type.String(),
  agent_port: Type.Integer(),
  state: Type.String(),
  state_reason: Type.Union([Type.String(), Type.Null()]),
  checked_at: Type.Union([Type.String(), Type.Null()]),
  registered_at: Type.String(),
  cert_fingerprint: Type.String(),
  report: Type.Union([HostReport, Type.Null()]),
});

function operatorOnly(req: FastifyRequest): void {
  if (req.principal?.role !== 'operator')
    throw new AppError('FORBIDDEN', {
      args: ["hosts are the operator's: read them with an operator credential (credentials create --role operator)"],
    });
}

export const hostRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const hosts = deps.hosts;
    if (!hosts) return;

    app.get(
      '/dwsbox/v1/hosts',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['hosts'],
          summary: 'The registered hosts, each checked now (dwsbox, operator)',
          description:
            "Every host registered with `dwsbox hosts add`, its agent asked over mutual TLS now: `state` up (with the host's memory, disk, processors and addresses as its kernel reports them) or unreachable (with why). An operator credential only. See docs/operations.md#several-hosts.",
          response: { 200: Type.Object({ hosts: Type.Array(HostOut), count: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => {
        operatorOnly(req);
        const all = (await hosts.list()).map(hostOut);
        return { hosts: all, count: all.length };
      },
    );

    app.get(
      '/dwsbox/v1/etcd',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['hosts'],
          summary: "The fleet etcd's members, each asked now (dwsbox, operator)",
          description:
            "The three members of the fleet's etcd (formed with `dwsbox hosts etcd H1 H2 H3`), each as its host's agent reports it now: `healthy` (a member is healthy only while a majority runs), or why not. Empty before it is formed. An operator credential only.",
          response: {
            200: Type.Object({
              members: Type.Array(
                Type.Object({
                  name: Type.String(),
                  address: Type.String(),
                  endpoint: Type.String(),
                  health: Type.String(),
                  unit: Type.Union([Type.String(), Type.Null()]),
                }),
              ),
              count: Type.Integer(),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        operatorOnly(req);
        const members = (await hosts.etcdMembers()).map(etcdMemberOut);
        return { members, count: members.length };
      },
    );

    app.get(
      '/dwsbox/v1/hosts/:host_name',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['hosts'],
          summary: 'One registered host, checked now (dwsbox, operator)',
          params: Type.Object({ host_name: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Object({ host: HostOut }), ...errorResponses },
        },
      },
      async (req) => {
        operatorOnly(req);
        return { host: hostOut(await hosts.get(req.params.host_name)) };
      },
    );
  };
