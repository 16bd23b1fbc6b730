/**
 * A throwaway PKI for the TLS tests: a CA and a server certificate for 127.0.0.1/localhost
 * signed by it, and another CA that signed nothing (an untrusted one), made with openssl in a
 * fresh temporary directory. Plus a free port for a server a test starts itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  ca: Buffer;
  otherCaFile: string;
  otherCa: Buffer;
  certFile: string;
  keyFile: string;
}

export function makeTestPki(label: string): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), `threadlog-${label}-`));
  const openssl = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (is openssl installed?): ${r.stderr ?? r.error}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=threadlog test CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  openssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=some other CA');
  const f = (n: string): string => path.join(dir, n);
  return { dir, caFile: f('ca.crt'), ca: readFileSync(f('ca.crt')), otherCaFile: f('other.crt'), otherCa: readFileSync(f('other.crt')), certFile: f('server.crt'), keyFile: f('server.key') };
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
