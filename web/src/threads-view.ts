/** The thread list: the most recent threads, a thread-id prefix search, a metadata filter; paged. */
import { LitElement, css, html, nothing } from 'lit';
import { getJson, threadHref } from './api.ts';
import { base } from './styles.ts';
import type { ThreadRow } from './types.ts';

/** `{"k": v}` as JSON, or `k=v k2=v2` (numbers, true, false and null typed) */
export function parseFilterInput(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (t.startsWith('{')) return JSON.parse(t) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const pair of t.split(/[\s,]+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`"${pair}" is not key=value`);
    const raw = pair.slice(eq + 1);
    out[pair.slice(0, eq)] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw === 'null' ? null : raw;
  }
  return out;
}

export class ThreadsView extends LitElement {
  static override properties = { threads: { state: true }, next: { state: true }, error: { state: true }, loading: { state: true } };
  declare threads: ThreadRow[];
  declare next: string | undefined;
  declare error: string | undefined;
  declare loading: boolean;
  private idPrefix = '';
  private filter = '';

  constructor() {
    super();
    this.threads = [];
    this.loading = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load(false);
  }

  private async load(more: boolean): Promise<void> {
    this.loading = true;
    this.error = undefined;
    try {
      const filter = parseFilterInput(this.filter);
      const page = await getJson<{ threads: ThreadRow[]; next?: string }>('/api/threads', {
        prefix: this.idPrefix || undefined,
        filter: filter === undefined ? undefined : JSON.stringify(filter),
        cursor: more ? this.next : undefined,
        limit: 50,
      });
      const seen = new Set(more ? this.threads.map((t) => t.threadId) : []);
      this.threads = [...(more ? this.threads : []), ...page.threads.filter((t) => !seen.has(t.threadId))];
      this.next = page.next;
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.loading = false;
    }
  }

  private search(e: Event): void {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    this.idPrefix = (form.elements.namedItem('prefix') as HTMLInputElement).value;
    this.filter = (form.elements.namedItem('filter') as HTMLInputElement).value;
    void this.load(false);
  }

  static override styles = [
    base,
    css`
      form { display: flex; gap: 0.6em; flex-wrap: wrap; margin: 0.2em 0 1em; }
      input[name='prefix'] { width: 18em; }
      input[name='filter'] { width: 22em; }
      table { border-collapse: collapse; width: 100%; }
      th { text-align: left; font-weight: 600; color: #4b5563; border-bottom: 1px solid #e5e7eb; padding: 0.4em 0.6em; font-size: 12.5px; }
      td { border-bottom: 1px solid #f1f3f6; padding: 0.45em 0.6em; vertical-align: top; }
      td.id { max-width: 34em; word-break: break-all; }
      tr:hover td { background: #f8fafc; }
    `,
  ];

  override render() {
    return html`
      <form @submit=${this.search} role="search">
        <input name="prefix" placeholder="thread id starts with…" aria-label="thread id prefix" .value=${this.idPrefix} />
        <input name="filter" placeholder='metadata: source=input or {"step": 3}' aria-label="metadata filter" .value=${this.filter} />
        <button type="submit">Search</button>
      </form>
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      <table>
        <thead><tr><th>thread</th><th>last checkpoint</th><th>step</th><th>source</th><th>namespaces</th></tr></thead>
        <tbody>
          ${this.threads.map(
            (t) => html`<tr data-thread=${t.threadId}>
              <td class="id mono"><a href=${threadHref(t.threadId)} class="thread-link">${t.threadId}</a></td>
              <td class="muted">${t.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
              <td>${t.step ?? ''}</td>
              <td>${t.source ?? ''}</td>
              <td class="mono muted">${(t.namespaces ?? []).filter((n) => n !== '').length || ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${this.threads.length === 0 && !this.loading && !this.error ? html`<p class="muted">No threads${this.idPrefix || this.filter ? ' match' : ' in this projection yet'}.</p>` : nothing}
      ${this.next ? html`<p><button @click=${() => void this.load(true)} ?disabled=${this.loading}>More threads</button></p>` : nothing}
      ${this.loading ? html`<p class="muted">Loading…</p>` : nothing}
    `;
  }
}
customElements.define('tl-threads', ThreadsView);
