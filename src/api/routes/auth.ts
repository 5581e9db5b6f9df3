/**
 * POST /v3/auth/tokens: Keystone-style password authentication, project scope; the token
 * comes back in X-Subject-Token. Failed sign-ins are throttled per user name and per source
 * address (429 APIGW.0308 with Retry-After; AuthService.issueToken, docs/security.md).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/primitives.js';
import type { Role } from '../../domain/records.js';

const TokenBody = Type.Object({
  auth: Type.Object({
    identity: Type.Object({
      methods: Type.Array(Type.String(), { maxItems: 4 }),
      password: Type.Object({
        user: Type.Object({
          name: Type.String({ maxLength: 64 }),
          password: Type.String({ maxLength: 256 }),
          domain: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), id: Type.Optional(Type.String()) })),
        }),
      }),
    }),
    scope: Type.Optional(
      Type.Object({
        project: Type.Object({ id: Type.Optional(Type.String({ maxLength: 64 })), name: Type.Optional(Type.String({ maxLength: 64 })) }),
      }),
    ),
  }),
});

const TokenResponse = Type.Object({
  token: Type.Object({
    expires_at: Type.String(),
    issued_at: Type.String(),
    methods: Type.Array(Type.String()),
    project: Type.Object({ id: Type.String(), name: Type.String() }),
    user: Type.Object({ id: Type.String(), name: Type.String() }),
    roles: Type.Array(Type.Object({ name: Type.String() })),
  }),
});

const ROLE_NAMES: Record<Role, string> = { admin: 'dws_admin', readonly: 'dws_readonly', operator: 'dwsbox_operator' };

export const authRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/v3/auth/tokens',
      {
        config: { auth: 'public' },
        schema: {
          tags: ['auth'],
          summary: 'Get a token (password method, project scope)',
          body: TokenBody,
          response: { 201: TokenResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
        },
      },
      async (req, reply) => {
        const a = req.body.auth;
        if (!a.identity.methods.includes('password'))
          throw new AppError('AUTH_FAILED', { args: ['only the password method is supported'] });
        const u = a.identity.password.user;
        const t = await deps.auth.issueToken(
          u.name,
          u.password,
          {
            ...(a.scope?.project.id ? { projectId: a.scope.project.id } : {}),
            ...(a.scope?.project.name ? { projectName: a.scope.project.name } : {}),
          },
          req.ip,
        );
        void reply.code(201).header('X-Subject-Token', t.token);
        return {
          token: {
            expires_at: new Date(t.expiresAt).toISOString(),
            issued_at: new Date(t.issuedAt).toISOString(),
            methods: ['password'],
            project: { id: t.projectId, name: t.projectName },
            user: { id: t.userId, name: u.name },
            roles: [{ name: ROLE_NAMES[t.role] }],
          },
        };
      },
    );
  };
