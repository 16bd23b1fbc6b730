/**
 * A JSON value, pretty-printed with Lit text bindings only (never innerHTML): long strings
 * and long lists collapse behind a <details>, nested objects fold below the first levels.
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';

const LONG_STRING = 240;
const LONG_LIST = 12;

function scalar(v: unknown): TemplateResult {
  if (v === null) return html`<span class="null">null</span>`;
  if (typeof v === 'string') {
    if (v.length <= LONG_STRING) return html`<span class="str">"${v}"</span>`;
    return html`<details class="long"><summary><span class="str">"${v.slice(0, 120)}…"</span> <span class="more">${v.length} characters</span></summary><span class="str full">"${v}"</span></details>`;
  }
  if (typeof v === 'number') return html`<span class="num">${v}</span>`;
  if (typeof v === 'boolean') return html`<span class="bool">${String(v)}</span>`;
  return html`<span>${String(v)}</span>`;
}

export function renderJson(v: unknown, depth = 0, openDepth = 2): TemplateResult {
  if (v === null || typeof v !== 'object') return scalar(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return html`<span class="punct">[]</span>`;
    const items = (list: unknown[], offset: number) => list.map((x, i) => html`<div class="entry"><span class="key idx">${offset + i}</span>${renderJson(x, depth + 1, openDepth)}</div>`);
    // long lists (messages): the newest stay in view, the earlier ones fold
    const hidden = v.length > LONG_LIST ? v.length - LONG_LIST : 0;
    return html`<details class="node" ?open=${depth < openDepth}>
      <summary><span class="punct">[</span><span class="more">${v.length} items</span><span class="punct">]</span></summary>
      <div class="children">
        ${hidden > 0 ? html`<details class="earlier"><summary class="more">${hidden} earlier items</summary>${items(v.slice(0, hidden), 0)}</details>` : nothing}
        ${items(v.slice(hidden), hidden)}
      </div>
    </details>`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return html`<span class="punct">{}</span>`;
  return html`<details class="node" ?open=${depth < openDepth}>
    <summary><span class="punct">{</span><span class="more">${entries.length} keys</span><span class="punct">}</span></summary>
    <div class="children">${entries.map(([k, x]) => html`<div class="entry"><span class="key">${k}</span>${renderJson(x, depth + 1, openDepth)}</div>`)}</div>
  </details>`;
}

export const jsonStyles = css`
  .node > summary, .long > summary, .earlier > summary { cursor: pointer; list-style: none; }
  .node > summary::-webkit-details-marker { display: none; }
  .node > summary::before { content: '▸ '; color: #8a94a6; }
  .node[open] > summary::before { content: '▾ '; }
  .children { padding-left: 1.1em; border-left: 1px solid #e3e7ee; margin-left: 0.25em; }
  .entry { display: flex; gap: 0.5em; align-items: baseline; white-space: pre-wrap; word-break: break-word; }
  .key { color: #3b4a66; font-weight: 600; flex: none; }
  .key::after { content: ':'; }
  .idx { color: #8a94a6; font-weight: 400; }
  .str { color: #0b6e4f; }
  .num { color: #1d4ed8; }
  .bool, .null { color: #9d174d; }
  .punct { color: #8a94a6; }
  .more { color: #8a94a6; font-style: italic; margin: 0 0.3em; }
  .full { display: block; }
`;

/** <tl-json .value=${x}> */
export class JsonView extends LitElement {
  static override properties = { value: { attribute: false }, openDepth: { type: Number } };
  declare value: unknown;
  declare openDepth: number;
  constructor() {
    super();
    this.openDepth = 2;
  }
  static override styles = [jsonStyles, css`:host { display: block; font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }`];
  override render() {
    return renderJson(this.value, 0, this.openDepth);
  }
}
customElements.define('tl-json', JsonView);
