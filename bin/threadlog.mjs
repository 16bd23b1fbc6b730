#!/usr/bin/env node
// The npm bin: registers tsx's loader in this process and runs the TypeScript CLI, so the
// package ships its sources as-is and signals (Ctrl-C, SIGTERM from a supervisor) reach the
// CLI itself — a wrapper process in between would die and leave it running.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
