/**
 * Can every checkpoint of a thread be assembled? Walks the thread's events in log order with
 * a model of the channel versions the log has stored so far (per namespace and channel) and
 * checks every append delta: its base must be earlier in the log (after the thread's last
 * delete), itself assemblable, and as long as the delta says (`baseLength`). Pure, and over
 * the log alone: a projection rebuilt from the same log fails the same reads, so this names
 * what a projection cannot mend. The projector runs the same test per batch (missing-bases.ts);
 * `threadlog audit` reports it.
 */
import { isThreadEnd, type ChannelValue, type ChannelVersion, type LoggedEvent, type LogPosition } from '../events/types.ts';
import { countJsonElements } from '../events/json-list.ts';

export type ChainProblemKind =
  /** the base version is not earlier in the log (a failed append, a foreign writer, a delete in between) */
  | 'missing-base'
  /** the base is in the log but cannot be assembled itself */
  | 'broken-base'
  /** the base's element count is not the `baseLength` the delta extends */
  | 'length-mismatch';

export interface ChainProblem {
  kind: ChainProblemKind;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
  version: ChannelVersion;
  base: ChannelVersion;
  position: LogPosition;
  message: string;
}

export interface ChainCheckReport {
  /** append deltas checked */
  deltas: number;
  /** checkpoints whose new values all assemble / the checkpoint events seen */
  checkpoints: number;
  brokenCheckpoints: number;
  problems: ChainProblem[];
}

interface Known {
  ok: boolean;
  /** element count when known (JSON lists); undefined: not checkable here */
  length: number | undefined;
}

const versionKey = (ns: string, channel: string, version: ChannelVersion): string => JSON.stringify([ns, channel, typeof version, version]);

function lengthOf(cv: ChannelValue, base: Known | undefined): number | undefined {
  if (cv.kind === 'snapshot') return cv.value.type === 'json' ? countJsonElements(cv.value.value) : undefined;
  return base?.length === undefined ? undefined : base.length + cv.items.length;
}

export function checkDeltaChains(events: readonly LoggedEvent[]): ChainCheckReport {
  let known = new Map<string, Known>();
  const problems: ChainProblem[] = [];
  let deltas = 0;
  let checkpoints = 0;
  let brokenCheckpoints = 0;
  for (const { event, position } of events) {
    if (isThreadEnd(event)) {
      // the projection drops everything older: nothing before may be a base any more
      known = new Map();
      continue;
    }
    if (event.type !== 'checkpoint') continue;
    checkpoints += 1;
    let broken = false;
    // insert-once in the projection: the first value stored under a version is the one read
    const store = (k: string, v: Known): void => {
      if (!known.has(k)) known.set(k, v);
    };
    for (const cv of event.values) {
      const at = { checkpointNs: event.checkpointNs, checkpointId: event.checkpointId, channel: cv.channel, version: cv.version, position };
      if (cv.kind === 'snapshot') {
        store(versionKey(event.checkpointNs, cv.channel, cv.version), { ok: true, length: lengthOf(cv, undefined) });
        continue;
      }
      deltas += 1;
      const base = known.get(versionKey(event.checkpointNs, cv.channel, cv.base));
      let problem: ChainProblem | undefined;
      if (base === undefined) {
        problem = { kind: 'missing-base', ...at, base: cv.base, message: `channel "${cv.channel}" version ${String(cv.version)} appends to version ${String(cv.base)}, which is not earlier in the log` };
      } else if (!base.ok) {
        problem = { kind: 'broken-base', ...at, base: cv.base, message: `channel "${cv.channel}" version ${String(cv.version)} appends to version ${String(cv.base)}, which cannot be assembled itself` };
      } else if (cv.baseLength !== undefined && base.length !== undefined && cv.baseLength !== base.length) {
        problem = { kind: 'length-mismatch', ...at, base: cv.base, message: `channel "${cv.channel}" version ${String(cv.version)} extends ${cv.baseLength} elements, but version ${String(cv.base)} has ${base.length}` };
      }
      if (problem !== undefined) problems.push(problem);
      broken ||= problem !== undefined;
      store(versionKey(event.checkpointNs, cv.channel, cv.version), { ok: problem === undefined, length: problem === undefined ? lengthOf(cv, base) : undefined });
    }
    if (broken) brokenCheckpoints += 1;
  }
  return { deltas, checkpoints, brokenCheckpoints, problems };
}
