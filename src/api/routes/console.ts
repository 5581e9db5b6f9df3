/**
 * The web console at /console/: the built single-page app (console/dist, `npm run
 * build:console`) served by the API's own process. Files are served as they are; any other
 * path without a file extension is a client route and gets index.html. Without a build,
 * /console answers 503 with a DWS error body saying how to build it. The console itself is a
 * client of the public API: nothing here is authenticated, and nothing here reads the store.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';
import { AppError } from '../../errors/app-error.js';

/** console/dist of this package: the same from src/ (tsx) and from dist/ (built). */
export function defaultConsoleDir(): string {
  return fileURLToPath(new URL('../../../console/dist', import.meta.url));
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const notBuilt = (): AppError =>
  new AppError('SERVICE_UNAVAILABLE', {
    args: ['the web console is not built; run `bash scripts/setup.sh` (or `npm run build:console`) in the dwsbox folder, then reload'],
  });

export const consoleRoutes =
  (dir: string | null | undefined): FastifyPluginAsync =>
  async (app) => {
    const root = dir ? resolve(dir) : null;
    const built = (): boolean => root !== null && existsSync(resolve(root, 'index.html'));

    // reply.sendFile only: the route below decides what is served.
    await app.register(fastifyStatic, { root: root ?? process.cwd(), serve: false, suppressWarning: true });

    const secure = (reply: FastifyReply): FastifyReply =>
      reply.header('Content-Security-Policy', CSP).header('X-Content-Type-Options', 'nosniff').header('Referrer-Policy', 'no-referrer');

    app.get('/console', { config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => {
      if (!built()) throw notBuilt();
      return reply.redirect('/console/', 302);
    });

    app.get('/console/*', { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => {
      if (!built() || root === null) throw notBuilt();
      const path = (req.raw.url ?? req.url).split('?')[0]!;
      const rel = path.slice('/console/'.length);
      let decoded: string;
      try {
        decoded = decodeURIComponent(rel);
      } catch {
        throw new AppError('ROUTE_NOT_FOUND', { args: [req.method, req.url.split('?')[0]!.slice(0, 200)] });
      }
      const full = resolve(root, `.${sep}${decoded}`);
      const inside = full === root || full.startsWith(root + sep);
      let isFile = false;
      if (inside && decoded !== '') {
        try {
          isFile = statSync(full).isFile();
        } catch {
          isFile = false;
        }
      }
      secure(reply);
      if (isFile) {
        // Vite names assets by content hash: they never change under one name.
        const immutable = decoded.startsWith('assets/');
        return reply.sendFile(decoded, root, immutable ? { maxAge: 365 * 24 * 3600 * 1000, immutable: true } : { cacheControl: false });
      }
      const last = decoded.split('/').pop() ?? '';
      if (!inside || last.includes('.'))
        throw new AppError('ROUTE_NOT_FOUND', { args: [req.method, req.url.split('?')[0]!.slice(0, 200)] });
      // A client route (/console/, /console/clusters/…): the app, never cached, so a new build shows at once.
      void reply.header('Cache-Control', 'no-cache');
      return reply.sendFile('index.html', root, { cacheControl: false });
    });
  };
