/**
 * Three projector processes (consumers/projector.ts, as in production) in one consumer group
 * on the 3-broker cluster and the Redis Cluster; one is killed with kill -9 while the log is
 * written. Its partitions move to the two survivors (after the session timeout), and the end
 * result equals, document by document, a projection built from scratch from the same log:
 * nothing skipped, nothing applied twice in effect (the per-thread hash chains count every
 * event once).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { describe, expect, it, afterAll } from 'vitest';
import { createWorkload } from '../../bench/workload.ts';
import { logWriter, makeTopics } from '../projector/helpers.ts';
import { waitFor } from '../support/isolation.ts';
import { root, useClusterStack } from './support/cluster.ts';
import { expectEqualToRebuilt, report, waitCommittedToEnd } from './support/load.ts';

const { AssignerProtocol } = kafkajs;
const stack = useClusterStack();
const PARTITIONS = 6;
const SESSION_TIMEOUT_MS = 10_000;
const THREADS = 60;
const workload = createWorkload({ threads: THREADS, steps: 40, messageChars: 120, threadPrefix: 'g' });
const children = new Set<ChildProcess>();
let stderrTail = '';

function startChild(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      ...stack.envVars(),
      THREADLOG_PARTITIONS: String(PARTITIONS),
      THREADLOG_GENERATION: 'grp',
      THREADLOG_OPS_PORT: '0',
      THREADLOG_LOG_LEVEL: 'warn',
      THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    },
  });
  // drained always: an unread pipe blocks the projector at its next log line
  child.stderr!.on('data', (b: Buffer) => (stderrTail = (stderrTail + b.toString()).slice(-8_000)));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const exited = (c: ChildProcess): Promise<unknown> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map(exited));
});

/** member id -> partitions of the topic assigned to it, when the group is stable */
async function assignment(groupId: string, topic: string): Promise<Map<string, number[]> | undefined> {
  const g = (await (await stack.admin()).describeGroups([groupId])).groups[0];
  if (g?.state !== 'Stable') return undefined;
  return new Map(g.members.map((m) => [m.memberId, AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []]));
}

describe('three projectors in one group on the cluster', () => {
  it('one killed with kill -9: its partitions move, nothing is skipped or applied twice', async () => {
    const topic = await makeTopics(stack, PARTITIONS);
    const groupId = `${stack.topicPrefix}.projector.grp`;
    const procs = [startChild(), startChild(), startChild()];
    const three = await waitFor(async () => {
      const a = await assignment(groupId, topic);
      return a && a.size === 3 && [...a.values()].every((ps) => ps.length === 2) ? a : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'three members sharing six partitions' });

    const writer = logWriter(stack, workload.codec, PARTITIONS);
    let written = 0;
    const load = (async () => {
      for await (const events of workload.all()) {
        await writer.write(events);
        written += events.length;
      }
    })();
    const total = THREADS * workload.eventsPerThread;
    await waitFor(() => written >= total / 3, { timeoutMs: 120_000, what: 'a third of the log written' });
    const victim = procs[0]!;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await exited(victim);
    const two = await waitFor(async () => {
      const a = await assignment(groupId, topic);
      return a && a.size === 2 ? a : undefined;
    }, { timeoutMs: SESSION_TIMEOUT_MS + 60_000, intervalMs: 200, what: 'the group rebalanced onto the two survivors' });
    const movedAfterMs = Date.now() - killedAt;
    // the survivors hold every partition, the victim's included
    expect([...two.values()].flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const victimPartitions = [...three].find(([id]) => !two.has(id))?.[1] ?? [];
    expect(victimPartitions.length).toBe(2);

    await load;
    await writer.close();
    expect(written).toBe(total);
    await waitCommittedToEnd(stack, groupId, topic, 300_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; the projectors' last log lines:\n${stderrTail}`);
    });
    const caughtUpAt = Date.now();
    for (const p of procs.slice(1)) p.kill('SIGTERM');
    await Promise.all(procs.map(exited));
    report('one of three projectors killed (session timeout 10 s)', { events: total, partitionsMovedAfterMs: movedAfterMs, victimPartitions, caughtUpAfterKillMs: caughtUpAt - killedAt });

    const projection = await expectEqualToRebuilt(stack, 'grp', PARTITIONS);
    expect(projection.checkpoints!.length).toBe(THREADS * workload.stepsPerThread);
  }, 900_000);
});
