/**
 * One checkpoint: its diff against its parent (channels changed, items appended, values
 * replaced), its state, pending writes and tasks, metadata, and its events in the log (log
 * position, stored size, audit status).
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { checkpointHref, getJson } from './api.ts';
import { jsonStyles, renderJson } from './json-view.ts';
import { base } from './styles.ts';
import type { Change, CheckpointDetail, CheckpointRow, EventAudit, StateDiff } from './types.ts';

type Tab = 'diff' | 'state' | 'writes' | 'metadata' | 'events';
const tabs: Array<[Tab, string]> = [
  ['diff', 'Diff vs parent'],
  ['state', 'State'],
  ['writes', 'Pending writes & tasks'],
  ['metadata', 'Metadata'],
  ['events', 'Log & audit'],
];

const pathText = (p: Array<string | number>): string => p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');

export class CheckpointView extends LitElement {
  static override properties = {
    threadId: { attribute: false },
    ns: { attribute: false },
    checkpointId: { attribute: false },
    row: { attribute: false },
    events: { attribute: false },
    audited: { attribute: false },
    detail: { state: true },
    diff: { state: true },
    error: { state: true },
    tab: { state: true },
  };
  declare threadId: string;
  declare ns: string;
  declare checkpointId: string;
  declare row: CheckpointRow | undefined;
  declare events: EventAudit[];
  declare audited: boolean;
  declare detail: CheckpointDetail | undefined;
  declare diff: StateDiff | undefined;
  declare error: string | undefined;
  declare tab: Tab;

  constructor() {
    super();
    this.events = [];
    this.audited = false;
    this.tab = 'diff';
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('checkpointId') || changed.has('ns') || changed.has('threadId')) void this.load();
  }

  private async load(): Promise<void> {
    const want = { thread: this.threadId, ns: this.ns, id: this.checkpointId };
    this.detail = undefined;
    this.diff = undefined;
    this.error = undefined;
    try {
      const [detail, diff] = await Promise.all([getJson<CheckpointDetail>('/api/checkpoint', want), getJson<StateDiff>('/api/diff', want)]);
      if (want.id !== this.checkpointId || want.ns !== this.ns) return;
      this.detail = detail;
      this.diff = diff;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  private change(c: Change): TemplateResult {
    return html`<div class="change ${c.kind}" data-change=${c.kind}>
      <div class="chead"><span class="kind">${c.kind}</span> <span class="mono path">${pathText(c.path)}</span></div>
      ${c.kind === 'replaced' || c.kind === 'removed' || c.kind === 'moved' ? html`<div class="val before"><span class="lbl">before</span>${renderJson(c.before, 0, 1)}</div>` : nothing}
      ${c.kind !== 'removed' ? html`<div class="val after"><span class="lbl">after</span>${renderJson(c.after, 0, 1)}</div>` : nothing}
    </div>`;
  }

  private diffTab(): TemplateResult {
    const d = this.diff;
    if (!d) return html`<p class="muted">Loading…</p>`;
    return html`
      <p class="muted">${d.parentCheckpointId
        ? html`Against parent <a class="mono" href=${checkpointHref(this.threadId, this.ns, d.parentCheckpointId)}>${d.parentCheckpointId}</a>`
        : 'The first checkpoint of its namespace: everything is new.'}</p>
      <div class="chips" data-diff-channels>
        ${d.channels.length === 0 ? html`<span class="muted">No channel changed.</span>` : nothing}
        ${d.channels.map(
          (c) => html`<span class="chip ${c.kind}" data-channel=${c.channel}><span class="mono">${c.channel}</span> ${c.kind === 'appended' ? `+${c.appended} appended` : c.kind}</span>`,
        )}
      </div>
      <div class="changes">${d.changes.map((c) => this.change(c))}</div>
      ${d.truncated ? html`<p class="muted">More changes than shown.</p>` : nothing}
    `;
  }

  private writesTab(): TemplateResult {
    const d = this.detail!;
    if (d.pendingWrites.length === 0) return html`<p class="muted">No pending writes: every task of this step finished and its writes went into the next checkpoint.</p>`;
    return html`
      <h4>Tasks</h4>
      <table>
        <tr><th>task</th><th>path</th><th>channels written</th></tr>
        ${d.tasks.map((t) => html`<tr><td class="mono">${t.taskId}</td><td class="mono">${t.taskPath}</td><td class="mono">${t.channels.join(', ')}</td></tr>`)}
      </table>
      <h4>Pending writes</h4>
      ${d.pendingWrites.map(
        (w) => html`<div class="write ${w.channel === '__interrupt__' ? 'interrupt' : ''}" data-write=${w.channel}>
          <div><span class="mono">${w.channel}</span> <span class="muted mono">task ${w.taskId}</span></div>
          ${renderJson(w.value, 0, 5)}
        </div>`,
      )}
    `;
  }

  private eventsTab(): TemplateResult {
    const r = this.row ?? this.detail?.row;
    return html`
      <table>
        <tr><th>checkpoint event at</th><td class="mono">${r?.position ?? ''}</td></tr>
        <tr><th>written</th><td>${r?.time ?? ''}</td></tr>
      </table>
      <h4>Events of this checkpoint in the log</h4>
      ${!this.audited
        ? html`<p class="muted">Waiting for the audit (it re-reads the thread from Kafka).</p>`
        : this.events.length === 0
          ? html`<p class="muted">The log has no event for this checkpoint up to now.</p>`
          : html`<table>
              <tr><th>type</th><th>position</th><th>size</th><th>audit</th></tr>
              ${this.events.map(
                (e) => html`<tr data-event=${e.position}>
                  <td class="nowrap">${e.type}</td><td class="mono nowrap">${e.position}</td><td class="nowrap">${e.bytes.toLocaleString('en')} bytes</td>
                  <td><span class="audit ${e.status} ${e.first ? 'first' : ''}" data-audit=${e.status}>${e.status}</span>${e.first ? html` <b>first divergence</b>` : nothing}
                    ${e.messages.map((m) => html`<div class="msg">${m}</div>`)}</td>
                </tr>`,
              )}
            </table>`}
    `;
  }

  private body(): TemplateResult {
    if (this.error) return html`<div class="error" role="alert">${this.error}</div>`;
    if (this.tab === 'diff') return this.diffTab();
    if (this.tab === 'events') return this.eventsTab();
    const d = this.detail;
    if (!d) return html`<p class="muted">Loading…</p>`;
    if (this.tab === 'state') return html`<tl-json .value=${d.state}></tl-json><h4>Channel versions</h4><tl-json .value=${d.channelVersions} .openDepth=${0}></tl-json>`;
    if (this.tab === 'writes') return this.writesTab();
    return html`<tl-json .value=${d.row.metadata}></tl-json>`;
  }

  static override styles = [
    base,
    jsonStyles,
    css`
      :host { border: 1px solid #e5e7eb; border-radius: 8px; background: #fff; padding: 0.8em 1em; }
      h3 { margin: 0 0 0.2em; font-size: 15px; word-break: break-all; }
      h4 { margin: 1em 0 0.3em; font-size: 13px; color: #374151; }
      .meta { display: flex; gap: 0.5em 1em; flex-wrap: wrap; font-size: 12.5px; margin-bottom: 0.6em; }
      nav { display: flex; gap: 0.2em; border-bottom: 1px solid #e5e7eb; margin-bottom: 0.7em; flex-wrap: wrap; }
      nav button { border: none; border-bottom: 2px solid transparent; border-radius: 0; background: none; padding: 0.4em 0.7em; color: #4b5563; }
      nav button[aria-selected='true'] { border-bottom-color: #2563eb; color: #1d4ed8; font-weight: 600; }
      .chips { display: flex; gap: 0.4em; flex-wrap: wrap; margin-bottom: 0.6em; }
      .chip { border-radius: 6px; padding: 0.1em 0.5em; font-size: 12.5px; border: 1px solid #e5e7eb; }
      .chip.appended, .chip.added { background: #f0fdf4; border-color: #86efac; }
      .chip.replaced, .chip.changed { background: #fffbeb; border-color: #fcd34d; }
      .chip.removed { background: #fef2f2; border-color: #fca5a5; }
      .change { border: 1px solid #e5e7eb; border-left-width: 4px; border-radius: 6px; padding: 0.35em 0.6em; margin-bottom: 0.45em; }
      .change.added { border-left-color: #22c55e; }
      .change.replaced, .change.moved { border-left-color: #f59e0b; }
      .change.removed { border-left-color: #ef4444; }
      .chead { font-size: 12.5px; margin-bottom: 0.2em; }
      .kind { font-weight: 600; text-transform: uppercase; font-size: 11px; color: #4b5563; }
      .val { display: flex; gap: 0.5em; font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace; }
      .val .lbl { flex: none; width: 3.8em; color: #9ca3af; font-family: system-ui, sans-serif; font-size: 11px; padding-top: 0.2em; }
      .before { background: #fef2f2; }
      .after { background: #f0fdf4; }
      .val > :last-child { min-width: 0; flex: 1; word-break: break-word; }
      table { border-collapse: collapse; font-size: 12.5px; }
      th { text-align: left; color: #4b5563; font-weight: 600; padding: 0.2em 0.8em 0.2em 0; vertical-align: top; }
      td { padding: 0.2em 0.8em 0.2em 0; vertical-align: top; overflow-wrap: anywhere; }
      td.nowrap { white-space: nowrap; }
      .write { border: 1px solid #e5e7eb; border-radius: 6px; padding: 0.35em 0.6em; margin-bottom: 0.4em; font-size: 12.5px; }
      .write.interrupt { border-color: #fdba74; background: #fff7ed; }
      .msg { color: #991b1b; font-size: 12px; margin-top: 0.2em; word-break: break-word; }
    `,
  ];

  override render() {
    const r = this.row ?? this.detail?.row;
    return html`
      <h3 class="mono" data-checkpoint-title>${this.checkpointId}</h3>
      <div class="meta">
        ${this.ns ? html`<span>namespace <span class="mono">${this.ns}</span></span>` : html`<span class="muted">root graph</span>`}
        ${r ? html`<span>step ${r.step ?? '–'}</span><span>${r.source ?? ''}</span><span class="mono" title="log position partition:offset">@ ${r.position}</span>` : nothing}
        ${this.audited && this.events.length > 0 ? html`<span>${this.events.reduce((n, e) => n + e.bytes, 0).toLocaleString('en')} bytes in the log</span>` : nothing}
        ${r?.parentCheckpointId ? html`<span>parent <a class="mono" href=${checkpointHref(this.threadId, this.ns, r.parentCheckpointId)}>${r.parentCheckpointId.slice(-12)}</a></span>` : nothing}
      </div>
      <nav role="tablist">
        ${tabs.map(([t, label]) => html`<button role="tab" aria-selected=${this.tab === t ? 'true' : 'false'} data-tab=${t} @click=${() => (this.tab = t)}>${label}</button>`)}
      </nav>
      ${this.body()}
    `;
  }
}
customElements.define('tl-checkpoint', CheckpointView);
