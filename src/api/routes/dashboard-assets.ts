/**
 * The dashboard's files on the admin listener: `/` is web/index.html, `/web/…` the page modules
 * and styles, `/assets/…` uPlot from node_modules. Everything is read once at registration from
 * the installed package (nothing is fetched at run time) and served from memory; only the listed
 * files exist, so no request path ever reaches the file system. No key is needed to load the
 * page: its data comes from /v1 behind the session.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

/** url path → [content type, body] for the web folder and the chart library. */
export function dashboardAssets(webRoot: URL): Map<string, [string, Buffer]> {
  const assets = new Map<string, [string, Buffer]>();
  const root = fileURLToPath(webRoot);
  for (const file of filesUnder(root)) {
    const type = TYPES[extname(file)];
    if (type === undefined) continue;
    assets.set(`/web/${relative(root, file).split(sep).join('/')}`, [type, readFileSync(file)]);
  }
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
  assets.set('/assets/uPlot.esm.js', [TYPES['.js']!, readFileSync(join(uplot, 'uPlot.esm.js'))]);
  assets.set('/assets/uPlot.min.css', [TYPES['.css']!, readFileSync(join(uplot, 'uPlot.min.css'))]);
  return assets;
}

export function registerDashboardAssets(webRoot: URL) {
  return (app: FastifyInstance): void => {
    const assets = dashboardAssets(webRoot);
    const index = assets.get('/web/index.html');
    if (index === undefined) throw new Error(`no index.html in ${fileURLToPath(webRoot)}`);
    const hide = { schema: { hide: true } };
    app.get('/', hide, async (_req, reply) => reply.type(index[0]).header('cache-control', 'no-cache').send(index[1]));
    app.get('/web/*', hide, async (req, reply) => {
      const asset = assets.get(req.url.split('?')[0]!);
      if (asset === undefined) return reply.status(404).send({ error: 'NOT_FOUND', message: 'no such dashboard file' });
      return reply.type(asset[0]).header('cache-control', 'no-cache').send(asset[1]);
    });
    app.get('/assets/*', hide, async (req, reply) => {
      const asset = assets.get(req.url.split('?')[0]!);
      if (asset === undefined) return reply.status(404).send({ error: 'NOT_FOUND', message: 'no such dashboard file' });
      return reply.type(asset[0]).header('cache-control', 'max-age=3600').send(asset[1]);
    });
  };
}
