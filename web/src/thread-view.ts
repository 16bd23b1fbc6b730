/**
 * One thread: its checkpoints as a tree (newest first, forks as lanes, subgraphs grouped),
 * each with its audit badge, the thread's audit and lag banners, live updates, and the
 * selected checkpoint's panel. Pages of 200 checkpoints: a long thread opens at once.
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { checkpointHref, getJson, liveUrl } from './api.ts';
import { groupLanes, nodeGraph } from './graph.ts';
import { layoutTree, type GroupRow, type NodeRow } from './lanes.ts';
import { base } from './styles.ts';
import type { AuditStatus, CheckpointRow, EventAudit, PartitionLag, ThreadAudit, ThreadPage } from './types.ts';
import './checkpoint-view.ts';

const PAGE = 200;
const severity: Record<AuditStatus, number> = { altered: 6, missing: 5, extra: 4, broken: 3, unverified: 2, pending: 1, verified: 0 };
const key = (ns: string, id: string): string => `${ns}\u0000${id}`;
const shortId = (id: string): string => (id.length > 14 ? `…${id.slice(-12)}` : id);
/** the time of day (a thread's rows mostly share the date; the full time is the title) */
const when = (iso: string): string => iso.slice(11, 19);

export class ThreadView extends LitElement {
  static override properties = {
    threadId: {},
    ns: {},
    checkpointId: {},
    rows: { state: true },
    next: { state: true },
    partition: { state: true },
    audit: { state: true },
    auditError: { state: true },
    auditing: { state: true },
    lag: { state: true },
    error: { state: true },
    live: { state: true },
    loading: { state: true },
  };
  declare threadId: string;
  declare ns: string | undefined;
  declare checkpointId: string | undefined;
  declare rows: CheckpointRow[];
  declare next: string | undefined;
  declare partition: number | undefined;
  declare audit: ThreadAudit | undefined;
  declare auditError: string | undefined;
  declare auditing: boolean;
  declare lag: PartitionLag | undefined;
  declare error: string | undefined;
  declare live: 'connecting' | 'live' | 'off';
  declare loading: boolean;
  private events: EventSource | undefined;
  private fresh = new Set<string>();
  private byCheckpoint = new Map<string, EventAudit[]>();

  constructor() {
    super();
    this.threadId = '';
    this.rows = [];
    this.auditing = false;
    this.live = 'off';
    this.loading = false;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.events?.close();
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('threadId') && this.threadId) void this.open();
  }

  private async open(): Promise<void> {
    this.events?.close();
    this.rows = [];
    this.next = undefined;
    this.audit = undefined;
    this.fresh.clear();
    await this.loadPage(undefined);
    this.connectLive();
    void this.runAudit();
    void getJson<{ partitions: PartitionLag[] }>('/api/lag', { thread: this.threadId }).then((l) => (this.lag = l.partitions[0]), () => undefined);
  }

  private async loadPage(before: string | undefined): Promise<void> {
    this.loading = true;
    this.error = undefined;
    try {
      const page = await getJson<ThreadPage>('/api/thread', { thread: this.threadId, limit: PAGE, before });
      this.partition = page.partition;
      this.rows = before === undefined ? page.checkpoints : [...this.rows, ...page.checkpoints];
      this.next = page.next;
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.loading = false;
    }
  }

  async runAudit(): Promise<void> {
    this.auditing = true;
    this.auditError = undefined;
    try {
      const audit = await getJson<ThreadAudit>('/api/audit', { thread: this.threadId });
      const by = new Map<string, EventAudit[]>();
      for (const e of audit.events) {
        if (e.checkpointId === undefined) continue;
        const k = key(e.checkpointNs ?? '', e.checkpointId);
        by.set(k, [...(by.get(k) ?? []), e]);
      }
      this.byCheckpoint = by;
      this.audit = audit;
    } catch (e) {
      this.auditError = (e as Error).message;
    } finally {
      this.auditing = false;
    }
  }

  private connectLive(): void {
    const es = new EventSource(liveUrl(this.threadId, this.rows[0]?.checkpointId));
    this.events = es;
    this.live = 'connecting';
    es.addEventListener('hello', () => (this.live = 'live'));
    es.addEventListener('checkpoints', (m: MessageEvent<string>) => {
      const { checkpoints } = JSON.parse(m.data) as { checkpoints: CheckpointRow[] };
      const have = new Set(this.rows.map((r) => key(r.checkpointNs, r.checkpointId)));
      const added = checkpoints.filter((c) => !have.has(key(c.checkpointNs, c.checkpointId)));
      for (const c of added) this.fresh.add(key(c.checkpointNs, c.checkpointId));
      if (added.length > 0) this.rows = [...added, ...this.rows].sort((a, b) => (a.checkpointId < b.checkpointId ? 1 : a.checkpointId > b.checkpointId ? -1 : 0));
    });
    es.addEventListener('lag', (m: MessageEvent<string>) => (this.lag = (JSON.parse(m.data) as PartitionLag | null) ?? undefined));
    es.addEventListener('reset', () => void this.open());
    es.onerror = () => (this.live = es.readyState === EventSource.CLOSED ? 'off' : 'connecting');
  }

  private statusOf(items: readonly CheckpointRow[]): { status: AuditStatus | 'unknown'; first: boolean; bytes: number } {
    if (this.audit === undefined) return { status: 'unknown', first: false, bytes: 0 };
    let status: AuditStatus | 'unknown' = 'unknown';
    let first = false;
    let bytes = 0;
    for (const it of items) {
      for (const e of this.byCheckpoint.get(key(it.checkpointNs, it.checkpointId)) ?? []) {
        if (status === 'unknown' || severity[e.status] > severity[status]) status = e.status;
        first ||= e.first;
        bytes += e.bytes;
      }
    }
    return { status, first, bytes };
  }

  private badge(items: readonly CheckpointRow[]): TemplateResult {
    const s = this.statusOf(items);
    const label = s.status === 'unknown' ? (this.auditing ? '…' : 'not audited') : s.status;
    return html`<span class="audit ${s.status} ${s.first ? 'first' : ''}" data-audit=${s.status} title=${s.first ? 'the first divergence of this thread' : `audit: ${label}`}>${label}</span>`;
  }

  private select(row: CheckpointRow): void {
    location.hash = checkpointHref(this.threadId, row.checkpointNs, row.checkpointId);
  }

  private nodeRow(r: NodeRow<CheckpointRow>, width: number): TemplateResult {
    const c = r.item;
    const selected = c.checkpointId === this.checkpointId && c.checkpointNs === (this.ns ?? '');
    return html`<div class="row ${selected ? 'selected' : ''}" data-checkpoint=${c.checkpointId} data-ns=${c.checkpointNs} @click=${() => this.select(c)}>
      ${nodeGraph(r, width, c.interrupt ? 'interrupt' : c.resume ? 'resume' : 'plain')}
      ${this.badge([c])}
      <span class="mono cid" title=${c.checkpointId}>${shortId(c.checkpointId)}</span>
      <span class="step">${c.step === null ? '' : `step ${c.step}`}</span>
      ${c.source ? html`<span class="tag source">${c.source}</span>` : nothing}
      ${c.interrupt ? html`<span class="tag interrupt" data-mark="interrupt" title="a node called interrupt(): the run paused here for a human">interrupt</span>` : nothing}
      ${c.resume ? html`<span class="tag resume" data-mark="resume" title="a human's answer (Command({ resume })) was recorded here">human answered</span>` : nothing}
      ${r.children > 1 ? html`<span class="tag fork" data-mark="fork" title="time travel: more than one checkpoint continues from this one">fork · ${r.children} branches</span>` : nothing}
      ${c.replayedFrom ? html`<span class="tag fork" data-mark="replayed">replayed from ${c.replayedFrom}</span>` : nothing}
      ${c.error ? html`<span class="tag error">task error</span>` : nothing}
      ${this.fresh.has(key(c.checkpointNs, c.checkpointId)) ? html`<span class="tag new" data-mark="new">new</span>` : nothing}
      <span class="spacer"></span>
      <span class="muted when" title=${c.time}>${when(c.time)}</span>
      <span class="mono muted pos" title="log position partition:offset">${c.position}</span>
    </div>`;
  }

  private groupRow(g: GroupRow<CheckpointRow>, width: number): TemplateResult {
    const open = g.items.some((c) => c.checkpointId === this.checkpointId && c.checkpointNs === this.ns);
    return html`<div class="group" data-ns=${g.ns}>
      ${groupLanes(g, width)}
      <details ?open=${open}>
        <summary>${this.badge(g.items)} <span class="tag source">subgraph</span> <span class="mono">${g.ns}</span> <span class="muted">· ${g.items.length} checkpoint${g.items.length === 1 ? '' : 's'}</span></summary>
        ${g.items.map(
          (c) => html`<div class="row sub ${c.checkpointId === this.checkpointId && c.checkpointNs === this.ns ? 'selected' : ''}" data-checkpoint=${c.checkpointId} data-ns=${c.checkpointNs} @click=${() => this.select(c)}>
            ${this.badge([c])}
            <span class="mono cid" title=${c.checkpointId}>${shortId(c.checkpointId)}</span>
            <span class="step">${c.step === null ? '' : `step ${c.step}`}</span>
            ${c.source ? html`<span class="tag source">${c.source}</span>` : nothing}
            ${c.interrupt ? html`<span class="tag interrupt" data-mark="interrupt">interrupt</span>` : nothing}
            <span class="spacer"></span>
            <span class="muted when" title=${c.time}>${when(c.time)}</span>
            <span class="mono muted pos">${c.position}</span>
          </div>`,
        )}
      </details>
    </div>`;
  }

  private banners(): TemplateResult {
    const a = this.audit;
    const lag = this.lag;
    return html`
      ${lag && lag.lag > 0
        ? html`<div class="banner warn" data-banner="lag">The projection lags the log by ${lag.lag} event${lag.lag === 1 ? '' : 's'} on partition ${lag.partition}: the newest checkpoints may not show yet.</div>`
        : nothing}
      ${this.auditError ? html`<div class="banner bad">Audit failed: ${this.auditError}</div>` : nothing}
      ${a === undefined
        ? html`<div class="banner muted">${this.auditing ? 'Auditing the thread against the log…' : ''}</div>`
        : a.ok
          ? html`<div class="banner good" data-banner="audit-ok">Audit: all ${a.audited} projected events verified against the log (hash chain and documents)${a.notYetProjected > 0 ? html`; ${a.notYetProjected} not projected yet` : nothing}.</div>`
          : html`<div class="banner bad" data-banner="audit-bad">
              Audit: ${a.first ? html`first divergence <b>${a.first.kind}</b> at log position <span class="mono">${a.first.position}</span>: ${a.first.message}` : 'a checkpoint cannot be assembled from the log'}
              <span class="muted">(${(['altered', 'missing', 'extra', 'broken', 'unverified'] as const).filter((k) => a.counts[k] > 0).map((k) => `${a.counts[k]} ${k}`).join(', ')}${a.orphans.length > 0 ? `, ${a.orphans.length} documents no event produced` : ''})</span>
            </div>`}
    `;
  }

  static override styles = [
    base,
    css`
      .head { display: flex; align-items: baseline; gap: 0.8em; flex-wrap: wrap; }
      h2 { font-size: 17px; margin: 0.2em 0; word-break: break-all; }
      .layout { display: grid; grid-template-columns: minmax(0, 1.05fr) minmax(0, 1fr); gap: 1em; align-items: start; }
      .tree { border: 1px solid #e5e7eb; border-radius: 8px; background: #fff; overflow: hidden; }
      .row { display: flex; align-items: center; gap: 0.5em; height: 30px; padding: 0 0.6em 0 0.2em; cursor: pointer; border-bottom: 1px solid #f3f4f6; white-space: nowrap; overflow: hidden; }
      .row:hover { background: #f8fafc; }
      .row.selected { background: #eef4ff; }
      .row.sub { padding-left: 1.4em; height: 26px; }
      .graph { flex: none; }
      .cid { color: #111827; }
      .step { color: #4b5563; font-size: 12.5px; min-width: 3.5em; }
      .spacer { flex: 1; }
      .when { font-size: 12px; }
      .pos { font-size: 11.5px; min-width: 3.5em; text-align: right; }
      .group { position: relative; display: flex; border-bottom: 1px solid #f3f4f6; background: #fcfcfd; }
      .group details { flex: 1; min-width: 0; }
      .group summary { cursor: pointer; padding: 0.3em 0.4em; font-size: 13px; }
      .lanes { position: absolute; left: 0; top: 0; }
      .lane-space { flex: none; }
      .panel { position: sticky; top: 0.5em; max-height: calc(100vh - 1em); overflow: auto; }
      .live { font-size: 12px; }
      .live.live::before { content: '● '; color: #16a34a; }
      .live.connecting::before { content: '● '; color: #d97706; }
      .footer { padding: 0.5em; display: flex; gap: 1em; align-items: center; }
    `,
  ];

  override render() {
    const layout = layoutTree(this.rows);
    const selected = this.rows.find((r) => r.checkpointId === this.checkpointId && r.checkpointNs === (this.ns ?? ''));
    return html`
      <div class="head">
        <h2 class="mono" data-thread-title>${this.threadId}</h2>
        <span class="muted">partition ${this.partition ?? '…'} · ${this.rows.length}${this.next ? '+' : ''} checkpoints</span>
        <span class="live ${this.live}" title="new checkpoints appear as the projector applies them">${this.live === 'live' ? 'live' : this.live === 'connecting' ? 'connecting…' : 'not live'}</span>
        <button @click=${() => void this.runAudit()} ?disabled=${this.auditing} data-action="audit">${this.auditing ? 'Auditing…' : 'Re-run audit'}</button>
      </div>
      ${this.banners()}
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      <div class="layout">
        <div class="tree" role="list" aria-label="checkpoints, newest first">
          ${layout.rows.map((r) => (r.kind === 'node' ? this.nodeRow(r, layout.width) : this.groupRow(r, layout.width)))}
          <div class="footer">
            ${this.next ? html`<button @click=${() => void this.loadPage(this.next)} ?disabled=${this.loading} data-action="older">Load older checkpoints</button>` : html`<span class="muted">${this.loading ? 'Loading…' : 'the thread starts here'}</span>`}
          </div>
        </div>
        <div class="panel">
          ${selected
            ? html`<tl-checkpoint .threadId=${this.threadId} .ns=${selected.checkpointNs} .checkpointId=${selected.checkpointId} .row=${selected} .events=${this.byCheckpoint.get(key(selected.checkpointNs, selected.checkpointId)) ?? []} .audited=${this.audit !== undefined}></tl-checkpoint>`
            : html`<p class="muted">Select a checkpoint to see its state, its diff against its parent, its pending writes and its audit.</p>`}
        </div>
      </div>
    `;
  }
}
customElements.define('tl-thread', ThreadView);
