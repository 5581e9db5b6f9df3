/**
 * Every route the running app serves, read from the app itself (never a hand-kept list): the
 * route tree (Fastify's printRoutes) for method and path, and GET /openapi.json for each
 * documented operation's body schema and query parameters.
 */
import type { FastifyInstance, HTTPMethods } from 'fastify';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  nullable?: boolean;
  maxLength?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  enum?: unknown[];
  [k: string]: unknown;
}

export interface RouteInfo {
  method: string;
  /** with `{name}` placeholders, e.g. `/v1.0/{project_id}/clusters/{cluster_id}`; a wildcard is `{*}` */
  path: string;
  /** path parameter names, in order */
  params: string[];
  /** the documented JSON body schema, when the route takes a body */
  body?: JsonSchema;
  /** documented query parameters */
  query: Record<string, JsonSchema>;
  documented: boolean;
}

/** Every method and path of the route tree (HEAD, added automatically for GET, left out). */
export function servedRoutes(app: FastifyInstance): { method: string; path: string }[] {
  const out = new Map<string, { method: string; path: string }>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack.push(path);
    for (const method of (m[3] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x && x !== 'HEAD')) {
      // The tree folds a '/' that has no route of its own into the wildcard below it
      // (`/console/*` prints as `/console` then `*`): ask the router which one it is.
      let route = path;
      if (
        route.endsWith('*') &&
        !app.hasRoute({ method: method as HTTPMethods, url: route }) &&
        app.hasRoute({ method: method as HTTPMethods, url: `${route.slice(0, -1)}/*` })
      )
        route = `${route.slice(0, -1)}/*`;
      const p = route.replace(/:([a-z_]+)/g, '{$1}').replace(/\*$/, '{*}');
      out.set(`${method} ${p}`, { method, path: p });
    }
  }
  return [...out.values()].sort((a, b) => `${a.method} ${a.path}`.localeCompare(`${b.method} ${b.path}`));
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string; schema?: JsonSchema }[];
        requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
      }
    >
  >;
}

/** The served routes, each with what the OpenAPI document says of its body and query. */
export async function routeCatalog(app: FastifyInstance): Promise<RouteInfo[]> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  if (res.statusCode !== 200) throw new Error(`GET /openapi.json: ${res.statusCode}`);
  const doc = res.json<OpenApiDoc>();
  return servedRoutes(app).map(({ method, path }) => {
    const op = doc.paths[path]?.[method.toLowerCase()];
    const query: Record<string, JsonSchema> = {};
    for (const prm of op?.parameters ?? []) if (prm.in === 'query') query[prm.name] = prm.schema ?? {};
    const body = op?.requestBody?.content?.['application/json']?.schema;
    return {
      method,
      path,
      params: [...path.matchAll(/\{([a-z_*]+)\}/g)].map((m) => m[1]!),
      ...(body ? { body } : {}),
      query,
      documented: op !== undefined,
    };
  });
}

/** Fill a path template; values are inserted as given (the caller encodes them or not). */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{([a-z_*]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return v;
  });
}
