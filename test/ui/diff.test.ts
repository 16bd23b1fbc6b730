import { describe, expect, it } from 'vitest';
import { diffStates } from '../../src/ui/diff.ts';

describe('diffStates', () => {
  it('names appended messages, replaced and added channels, with values before and after', () => {
    const m = (role: string, content: string) => ({ role, content });
    const before = { messages: [m('user', 'q1'), m('agent', 'a1')], turn: 1, gone: 'x' };
    const after = { messages: [m('user', 'q1'), m('agent', 'a1'), m('user', 'q2'), m('agent', 'a2')], turn: 2, summary: 'new' };
    const d = diffStates(before, after);
    expect(d.channels).toEqual([
      { channel: 'gone', kind: 'removed' },
      { channel: 'messages', kind: 'appended', appended: 2 },
      { channel: 'summary', kind: 'added' },
      { channel: 'turn', kind: 'replaced' },
    ]);
    expect(d.changes).toContainEqual({ path: ['messages', 2], kind: 'added', after: m('user', 'q2') });
    expect(d.changes).toContainEqual({ path: ['messages', 3], kind: 'added', after: m('agent', 'a2') });
    expect(d.changes).toContainEqual({ path: ['turn'], kind: 'replaced', before: 1, after: 2 });
    expect(d.changes).toContainEqual({ path: ['gone'], kind: 'removed', before: 'x' });
    expect(d.truncated).toBe(false);
  });

  it('reports a rewritten list item by its path, and nothing for equal states', () => {
    const d = diffStates({ messages: [{ role: 'agent', content: 'draft', id: 'm1' }] }, { messages: [{ role: 'agent', content: 'final', id: 'm1' }] });
    expect(d.channels).toEqual([{ channel: 'messages', kind: 'changed' }]);
    expect(d.changes).toEqual([{ path: ['messages', 0, 'content'], kind: 'replaced', before: 'draft', after: 'final' }]);
    expect(diffStates({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual({ channels: [], changes: [], truncated: false });
  });

  it('caps the rows it returns', () => {
    const after = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    const d = diffStates({}, after, 10);
    expect(d.changes).toHaveLength(10);
    expect(d.truncated).toBe(true);
    expect(d.channels).toHaveLength(30);
  });
});
