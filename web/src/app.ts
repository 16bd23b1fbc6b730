/** The viewer's shell: a header and the view the URL's hash names (threads, or one thread). */
import { LitElement, css, html } from 'lit';
import { parseRoute, type Route } from './api.ts';
import { base } from './styles.ts';
import './json-view.ts';
import './threads-view.ts';
import './thread-view.ts';

export class App extends LitElement {
  static override properties = { route: { state: true } };
  declare route: Route;
  private onHash = (): void => {
    this.route = parseRoute(location.hash);
  };

  constructor() {
    super();
    this.route = parseRoute(location.hash);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHash);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHash);
  }

  override updated(): void {
    document.title = this.route.view === 'thread' ? `${this.route.threadId} · threadlog` : 'threads · threadlog';
  }

  static override styles = [
    base,
    css`
      header { display: flex; align-items: baseline; gap: 1em; padding: 0.6em 1.2em; border-bottom: 1px solid #e5e7eb; background: #fff; }
      header b { font-size: 16px; }
      main { padding: 0.8em 1.2em; }
    `,
  ];

  override render() {
    const r = this.route;
    return html`
      <header>
        <b><a href="#/">threadlog</a></b>
        <span class="muted">timeline viewer · read-only</span>
      </header>
      <main>
        ${r.view === 'thread'
          ? html`<tl-thread .threadId=${r.threadId} .ns=${r.ns} .checkpointId=${r.checkpointId}></tl-thread>`
          : html`<tl-threads></tl-threads>`}
      </main>
    `;
  }
}
customElements.define('tl-app', App);
