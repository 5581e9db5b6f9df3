/**
 * The bare side of bench/http.ts: a Fastify 5 server with one route, registered under the same
 * URL pattern as dwsbox's, that answers every request with the status, Content-Type and body
 * bytes dwsbox gave for it (captured once by the bench). No logger, no hooks, no schema: what
 * the framework itself costs for that answer, the floor dwsbox is measured against.
 *
 *   node --import tsx bench/http-bare.ts <spec.json>
 *
 * spec.json: { "port": N, "method": "GET", "pattern": "/v1/:project_id/…", "status": 200,
 * "contentType": "application/json; charset=utf-8", "bodyFile": "<file>" }. Prints "listening"
 * on stdout once it listens; SIGTERM closes it.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

interface BareSpec {
  port: number;
  method: 'GET';
  pattern: string;
  status: number;
  contentType: string;
  bodyFile: string;
}

const specFile = process.argv[2];
if (!specFile) throw new Error('usage: http-bare.ts <spec.json>');
const spec = JSON.parse(readFileSync(specFile, 'utf8')) as BareSpec;
const body = readFileSync(spec.bodyFile);

// dwsbox's router settings that change routing (path parameters up to 256 characters).
const app = Fastify({ routerOptions: { maxParamLength: 256 } });
app.route({
  method: spec.method,
  url: spec.pattern,
  handler: (_req, reply) => {
    void reply.code(spec.status).header('content-type', spec.contentType).send(body);
  },
});
await app.listen({ host: '127.0.0.1', port: spec.port });
process.stdout.write('listening\n');
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
