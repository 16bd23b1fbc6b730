/**
 * The viewer's built front end (web/, built by Vite into web/dist), served from the package:
 * no CDN, works offline. Only files under the assets directory are served; hashed assets are
 * cached for good, the page itself never.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { ThreadlogError } from '../errors.ts';

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** The package's own build output: web/dist beside src/. */
export const defaultAssetsDir = path.resolve(import.meta.dirname, '../../web/dist');

export async function checkAssets(dir: string): Promise<void> {
  const ok = await stat(path.join(dir, 'index.html')).then((s) => s.isFile(), () => false);
  if (!ok) throw new ThreadlogError('not-found', `the viewer's front end is not built in ${dir}: run 'npm run build:ui' (npm ci does it through the prepare script)`);
}

/** Serves `urlPath` from `dir`; false when there is no such file. */
export async function serveStatic(dir: string, urlPath: string, res: ServerResponse): Promise<boolean> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return false;
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const file = path.resolve(dir, `.${path.posix.normalize(rel)}`);
  if (!file.startsWith(dir + path.sep)) return false;
  const body = await readFile(file).catch(() => undefined);
  if (body === undefined) return false;
  const hashed = rel.startsWith('/assets/');
  res.writeHead(200, {
    'content-type': types[path.extname(file)] ?? 'application/octet-stream',
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-store',
    'content-length': body.byteLength,
  });
  res.end(body);
  return true;
}
