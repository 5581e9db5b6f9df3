/**
 * buildApp(deps): the Fastify instance. HTTP only: parse, authenticate, call a service, map.
 * Request ids, one JSON parser that keeps the raw bytes for the signature check (D10), the
 * DWS error handler, x-language, and the per-route auth rule (public, read, mutate).
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type onSendHookHandler } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import sjson from 'secure-json-parse';
import { randomUUID } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { parseLanguage, type Lang } from '../domain/step-names.js';
import { AUDITED_METHODS, auditedCluster, type AuditRecord } from '../domain/audit.js';
import type { Logger } from '../log/logger.js';
import type { AuthService, Principal } from '../auth/auth-service.js';
import type { ClusterService } from '../services/cluster-service.js';
import type { TaskService } from '../services/task-service.js';
import type { FaultService } from '../services/fault-service.js';
import type { SnapshotService } from '../services/snapshot-service.js';
import type { RestoreService } from '../services/restore-service.js';
import type { ScaleService } from '../services/scale-service.js';
import type { EventService } from '../services/events.js';
import type { EventSubscriptionService } from '../services/event-subscriptions.js';
import { clientErrorHandler, errorHandler } from './error-handler.js';
import { authRoutes } from './routes/auth.js';
import { clusterRoutes } from './routes/clusters.js';
import { clusterInfoRoutes } from './routes/cluster-info.js';
import { activityRoutes } from './routes/activity.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { alarmRoutes } from './routes/alarms.js';
import { auditRoutes } from './routes/audit.js';
import type { ActivityService } from '../services/activity-service.js';
import type { MonitoringService } from '../services/monitoring-service.js';
import type { AlarmService } from '../services/alarm-service.js';
import type { AuditService } from '../services/audit-service.js';
import type { HostService } from '../services/host-service.js';
import { hostRoutes } from './routes/hosts.js';
import { disasterRecoveryRoutes } from './routes/disaster-recovery.js';
import type { DisasterRecoveryService } from '../services/disaster-recovery-service.js';
import { dbUserRoutes } from './routes/db-users.js';
import { dbAuthorityRoutes } from './routes/db-authority.js';
import { flavorRoutes } from './routes/flavors.js';
import { configurationRoutes } from './routes/configurations.js';
import { taskRoutes } from './routes/tasks.js';
import { operationsRoutes } from './routes/operations.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { snapshotPolicyRoutes } from './routes/snapshot-policies.js';
import type { SnapshotPolicyService } from '../services/snapshot-policy-service.js';
import { restoreRoutes } from './routes/restores.js';
import { scaleRoutes } from './routes/scale.js';
import { eventRoutes } from './routes/events.js';
import { consoleRoutes } from './routes/console.js';
import { unsupportedRoutes } from './routes/unsupported.js';
import type { ReadPoint } from '../services/task-service.js';

export type AuthRule = 'public' | 'read' | 'mutate';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRule;
  }
  interface FastifyRequest {
    principal: Principal | null;
    lang: Lang;
    rawBody: Buffer | undefined;
    jsonError: string | null;
    startedAt: number;
    /** the store's read version for this request's reads (read-cache.ts); null on public routes */
    readPoint: ReadPoint | null;
    /** the DWS error the answer carries (the error handler's), for the audit trail */
    failure: { code: string; message: string } | null;
    /** a mutating call's JSON answer (the audit trail reads the cluster it made from it) */
    answer: string | null;
  }
}

export interface Readiness {
  /** false while the service starts or stops: every API route answers 503 */
  accepting: boolean;
  /** store reachable, migrations current, binaries found */
  check(): Promise<{ ready: boolean; reason: string | null; checks: Record<string, string> }>;
}

export interface AppDeps {
  log: Logger;
  auth: AuthService;
  clusters: ClusterService;
  tasks: TaskService;
  faults: FaultService;
  snapshots: SnapshotService;
  policies: SnapshotPolicyService;
  restores: RestoreService;
  scale: ScaleService;
  /** live sessions and table statistics (issue 17): ListQueries, ShowQueryDetail, ListTablesStatistic */
  activity: ActivityService;
  /** the metrics history (issue 17, D29): ListMonitorIndicators … ListMetricsData */
  monitoring: MonitoringService;
  /** alarm rules and the alarms the collector raised (issue 17) */
  alarms: AlarmService;
  /** the audit trail's reads (ListAuditLog) */
  auditLog: AuditService;
  /** the registered hosts of several-hosts operation (issue 18, D27); absent: no hosts routes */
  hosts?: HostService;
  /** disaster-recovery pairings (issue 19, D31); absent: no such routes */
  disasterRecovery?: DisasterRecoveryService;
  /** cluster events (D26): ListEvents */
  events: EventService;
  /** event specs and subscriptions (D26, issue 17) */
  eventSubs: EventSubscriptionService;
  readiness: Readiness;
  /** a new read point of the store (one per authenticated request) */
  readPoint: () => ReadPoint;
  /**
   * Prometheus text, when metrics are served on the API listener: every series for an
   * operator credential, a project's own series (`project_id` label) for any other.
   */
  metrics?: { contentType: string; text(): Promise<string>; projectText(projectId: string): Promise<string> };
  /** directory of the built web console, served at /console */
  consoleDir?: string | null;
  /** extra hooks (metrics) */
  onResponse?: (route: string, method: string, status: number, durationMs: number) => void;
  /** records each authenticated mutating call in the audit trail (issue 17); called after the answer, never awaited */
  audit?: (record: AuditRecord) => void;
}

const BODY_LIMIT = 1024 * 1024;

/** The Content-Security-Policy of API answers (JSON): nothing to load, never framed. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Swagger UI's policy (scripts by hash), adjusted: never framed; no upgrade of the page's own
 * plain-HTTP requests; inline styles allowed (Swagger UI sets some, and a hash list would
 * make a browser ignore 'unsafe-inline'), as the console's policy allows them.
 */
export function docsCsp(header: string): string {
  return header
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '' && !/^(frame-ancestors|upgrade-insecure-requests|style-src)\b/.test(d))
    .concat("style-src 'self' 'unsafe-inline'", "frame-ancestors 'none'", "form-action 'self'")
    .join('; ');
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Every answer's headers, set as the request arrives (the answer, an error's included, keeps
 * them; an onSend hook to add them cost a hook round per request, issue 14): its request id;
 * never framed, never sniffed; and a policy that lets the body load nothing, which a route that
 * serves a page (/docs, /console) replaces with its own.
 */
function setAnswerHeaders(req: FastifyRequest, reply: FastifyReply): void {
  void reply
    .header('X-Request-Id', req.id)
    .header('X-Frame-Options', 'DENY')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Security-Policy', API_CSP);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.pino,
    // one line per request is written by the onResponse hook below
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // No child logger per request (its bindings went through the redact list on every request,
    // issue 14): the few lines written about a request carry its reqId themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 256 },
    requestTimeout: 120_000,
    ajv: { customOptions: { coerceTypes: 'array', allErrors: false } },
    // Errors the router raises before any hook runs (bad percent-encoding such as `%ff`, a path
    // parameter over maxParamLength): the DWS body and a request id too, not Fastify's own body.
    frameworkErrors: (err, req, reply) => {
      setAnswerHeaders(req, reply);
      errorHandler(err, req, reply);
    },
    // Node's parser refusing a request (headers over 16 KiB: 431, malformed HTTP: 400): DWS body too.
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are validated strictly (no type coercion, D10); query strings and path
  // parameters arrive as text and are coerced.
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict.compile(schema) : coercing.compile(schema)));

  app.decorateRequest('principal', null);
  app.decorateRequest('lang', 'en');
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('jsonError', null);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('readPoint', null);
  app.decorateRequest('failure', null);
  app.decorateRequest('answer', null);
  // The audit trail (issue 17) names the cluster a call made (a create, a restore into a new
  // cluster) from its answer: kept for the mutating routes only, so reads pay nothing.
  if (deps.audit)
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      if (!methods.some((m) => AUDITED_METHODS.has(m))) return;
      const keep: onSendHookHandler = (req, _reply, payload, done) => {
        if (typeof payload === 'string' && payload.length <= 65_536) req.answer = payload;
        done(null, payload);
      };
      route.onSend = [...(Array.isArray(route.onSend) ? route.onSend : route.onSend ? [route.onSend] : []), keep];
    });

  app.removeAllContentTypeParsers();
  // One JSON parser (D10): the raw bytes feed the signature check; an empty body is accepted
  // (clients send Content-Type: application/json with none); a malformed one is reported
  // only after authentication, so an unauthenticated caller learns nothing from it.
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (req: FastifyRequest, body: Buffer, done) => {
    req.rawBody = body;
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, sjson.parse(utf8.decode(body), undefined, { protoAction: 'remove', constructorAction: 'remove' }));
    } catch (e) {
      req.jsonError =
        e instanceof TypeError ? 'the body is not valid UTF-8' : `the body is not valid JSON (${(e as Error).message.slice(0, 120)})`;
      done(null, undefined);
    }
  });

  // Hooks take a callback, not a promise, where they do not wait for anything (a promise per
  // hook per request is measurable, issue 14).
  app.addHook('onRequest', (req, reply, done) => {
    req.startedAt = performance.now();
    setAnswerHeaders(req, reply);
    req.lang = parseLanguage(req.headers['x-language']);
    const rule = req.routeOptions.config?.auth ?? 'public';
    if (!deps.readiness.accepting && rule !== 'public')
      return done(new AppError('SERVICE_UNAVAILABLE', { args: ['the service is starting or stopping; retry shortly'] }));
    done();
  });

  const authenticate = async (req: FastifyRequest, rule: string): Promise<void> => {
    req.readPoint = deps.readPoint();
    req.principal = await deps.auth.authenticate({
      at: req.readPoint,
      method: req.method,
      url: req.raw.url ?? req.url,
      headers: req.headers,
      rawBody: req.rawBody,
      ip: req.ip,
    });
    const projectId = (req.params as { project_id?: string } | undefined)?.project_id;
    if (projectId !== undefined) deps.auth.authorize(req.principal, projectId, rule === 'mutate');
  };
  app.addHook('preValidation', (req, _reply, done) => {
    const rule = req.routeOptions.config?.auth ?? 'public';
    const bodyError = (): AppError | undefined => (req.jsonError ? new AppError('VALIDATION', { args: [req.jsonError] }) : undefined);
    if (rule === 'public') return done(bodyError());
    authenticate(req, rule).then(() => done(bodyError()), done);
  });

  const requestLog = deps.log.unredacted.pino;
  app.addHook('onResponse', (req, reply, done) => {
    const durationMs = Math.round((performance.now() - req.startedAt) * 10) / 10;
    const route = req.routeOptions.url ?? 'unknown';
    // No field of the request line can hold a secret: it skips the redact list. A health probe
    // that answered well is a debug line (a load balancer's every few seconds would bury the log).
    const probe = reply.statusCode < 400 && (route === '/healthz' || route === '/readyz');
    const level = probe ? 'debug' : 'info';
    if (requestLog.isLevelEnabled(level))
      requestLog[level](
        {
          reqId: req.id,
          method: req.method,
          route,
          url: req.url.slice(0, 300),
          statusCode: reply.statusCode,
          durationMs,
          projectId: (req.params as { project_id?: string } | undefined)?.project_id,
          principal: req.principal?.id,
          clusterId: (req.params as { cluster_id?: string } | undefined)?.cluster_id,
        },
        'request',
      );
    deps.onResponse?.(route, req.method, reply.statusCode, durationMs);
    if (deps.audit && req.principal && AUDITED_METHODS.has(req.method)) {
      const params = req.params as { project_id?: string; cluster_id?: string } | undefined;
      const finishedAt = Date.now();
      deps.audit({
        id: randomUUID(),
        projectId: params?.project_id ?? req.principal.projectId,
        clusterId: params?.cluster_id ?? auditedCluster(req.body, req.answer),
        startedAt: Math.round(finishedAt - durationMs),
        finishedAt,
        principal: req.principal.id,
        authMethod: req.principal.method,
        method: req.method,
        route,
        status: reply.statusCode,
        errorCode: req.failure?.code ?? null,
        errorMessage: req.failure?.message ?? null,
        requestId: String(req.id),
      });
    }
    done();
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    errorHandler(new AppError('ROUTE_NOT_FOUND', { args: [req.method, req.url.split('?')[0]!.slice(0, 200)] }), req, reply);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'dwsbox: GaussDB(DWS) management API',
        version: '0.1.0',
        description:
          'The DWS REST API, served by dwsbox over real PostgreSQL clusters. Authenticate with AK/SK (SDK-HMAC-SHA256) or X-Auth-Token.',
      },
      components: {
        securitySchemes: {
          aksk: { type: 'apiKey', in: 'header', name: 'Authorization' },
          token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
        },
      },
      security: [{ aksk: [] }, { token: [] }],
    },
  });
  // Swagger UI's own policy (scripts and styles by hash), with frame-ancestors 'none' and
  // without upgrade-insecure-requests (the service speaks plain HTTP on its own address).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: docsCsp });

  await app.register(authRoutes(deps));
  await app.register(clusterRoutes(deps));
  await app.register(clusterInfoRoutes(deps));
  await app.register(activityRoutes(deps));
  await app.register(monitoringRoutes(deps));
  await app.register(alarmRoutes(deps));
  await app.register(auditRoutes(deps));
  await app.register(hostRoutes(deps));
  await app.register(disasterRecoveryRoutes(deps));
  await app.register(dbUserRoutes(deps));
  await app.register(dbAuthorityRoutes(deps));
  await app.register(flavorRoutes(deps));
  await app.register(configurationRoutes(deps));
  await app.register(snapshotRoutes(deps));
  await app.register(snapshotPolicyRoutes(deps));
  await app.register(restoreRoutes(deps));
  await app.register(scaleRoutes(deps));
  await app.register(taskRoutes(deps));
  await app.register(operationsRoutes(deps));
  await app.register(eventRoutes(deps));
  // every other operation of the DWS v2 SDK: a clear 400 saying why (D28)
  await app.register(unsupportedRoutes());
  await app.register(consoleRoutes(deps.consoleDir));
  await app.ready();
  return app as unknown as FastifyInstance;
}
