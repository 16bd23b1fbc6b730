/** `threadlog up|down|status`: the local stack script, with its output passed through. */
import { spawn } from 'node:child_process';
import path from 'node:path';

const script = path.resolve(import.meta.dirname, '../../infra/stack.sh');

export function runStackScript(command: 'up' | 'down' | 'status'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, command], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`infra/stack.sh ${command} failed (exit ${code}); see the log it names above`)),
    );
  });
}
