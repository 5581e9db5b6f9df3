/** The /console route: files, the client-route fallback, caching, and the answer without a build. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { errorHandler } from '../error-handler.js';
import { consoleRoutes, defaultConsoleDir } from './console.js';

const dirs: string[] = [];
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function appFor(dir: string | null): Promise<FastifyInstance> {
  const app = Fastify();
  app.setErrorHandler(errorHandler);
  // as in buildApp: what no route takes is a DWS 404
  app.setNotFoundHandler((req, reply) => errorHandler(new AppError('ROUTE_NOT_FOUND', { args: [req.method, req.url] }), req, reply));
  await app.register(consoleRoutes(dir));
  await app.ready();
  apps.push(app);
  return app;
}

function site(): { root: string; dist: string } {
  const root = mkdtempSync(join(tmpdir(), 'dwsbox-console-'));
  dirs.push(root);
  const dist = join(root, 'dist');
  writeFileSync(join(root, 'secret.txt'), 'outside the build');
  return { root, dist };
}

function build(dist: string): void {
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>console</title><div id="app"></div>');
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
}

describe('console route', () => {
  it('answers 503 with a DWS body saying how to build it when there is no build', async () => {
    const { dist } = site();
    for (const app of [await appFor(dist), await appFor(null)]) {
      for (const url of ['/console', '/console/', '/console/clusters/x']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(503);
        const body = r.json() as { error_code: string; error_msg: string };
        expect(body.error_code).toBe('DWS.9503');
        expect(body.error_msg).toMatch(/not built.*setup\.sh.*build:console/);
      }
    }
  });

  it('serves the build: index.html for client routes, files as they are, 404 for missing files', async () => {
    const { dist } = site();
    const app = await appFor(dist);
    build(dist); // built after the service started: served without a restart

    const root = await app.inject({ method: 'GET', url: '/console' });
    expect(root.statusCode).toBe(302);
    expect(root.headers['location']).toBe('/console/');

    for (const url of ['/console/', '/console/clusters/abc', '/console/clusters/abc/tasks/t1?x=1']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.body).toContain('<div id="app">');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }

    const js = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toMatch(/immutable/);
    const head = await app.inject({ method: 'HEAD', url: '/console/assets/index-abc123.js' });
    expect(head.statusCode).toBe(200);

    for (const url of [
      '/console/assets/missing.js',
      '/console/%2e%2e/secret.txt',
      '/console/..%2fsecret.txt',
      '/console/assets/..%2f..%2fsecret.txt',
    ]) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
      expect(r.body).not.toContain('outside the build');
      expect((r.json() as { error_code: string }).error_code, url).toBe('APIGW.0101');
    }
    // a path that does not decode is refused before any route
    expect((await app.inject({ method: 'GET', url: '/console/%E0%A4%A' })).statusCode).toBe(400);
  });

  it('finds console/dist of the package from the module itself', () => {
    expect(defaultConsoleDir()).toBe(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'console', 'dist'));
  });
});
