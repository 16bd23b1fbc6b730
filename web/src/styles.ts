import { css } from 'lit';

export const base = css`
  :host { display: block; color: #1f2937; font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }
  a { color: #1d4ed8; text-decoration: none; }
  a:hover { text-decoration: underline; }
  button { font: inherit; padding: 0.3em 0.8em; border: 1px solid #c7cfdb; border-radius: 6px; background: #fff; cursor: pointer; }
  button:hover { background: #f1f4f9; }
  input { font: inherit; padding: 0.35em 0.6em; border: 1px solid #c7cfdb; border-radius: 6px; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace; font-size: 12.5px; }
  .muted { color: #6b7280; }
  .error { color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; padding: 0.5em 0.8em; border-radius: 6px; }
  .banner { padding: 0.45em 0.8em; border-radius: 6px; margin: 0.4em 0; }
  .banner.warn { background: #fffbeb; border: 1px solid #fcd34d; color: #78350f; }
  .banner.bad { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; }
  .banner.good { background: #f0fdf4; border: 1px solid #86efac; color: #14532d; }
  .tag { display: inline-block; padding: 0 0.45em; border-radius: 999px; font-size: 11.5px; line-height: 1.6; border: 1px solid transparent; white-space: nowrap; }
  .tag.interrupt { background: #fff7ed; border-color: #fdba74; color: #9a3412; }
  .tag.resume { background: #eff6ff; border-color: #93c5fd; color: #1e40af; }
  .tag.fork { background: #f5f3ff; border-color: #c4b5fd; color: #5b21b6; }
  .tag.error { background: #fef2f2; border-color: #fca5a5; color: #991b1b; padding: 0 0.45em; }
  .tag.source { background: #f3f4f6; color: #374151; }
  .tag.new { background: #ecfeff; border-color: #67e8f9; color: #155e75; }
  .audit { display: inline-block; min-width: 5.5em; text-align: center; padding: 0 0.45em; border-radius: 4px; font-size: 11.5px; line-height: 1.6; font-weight: 600; }
  .audit.verified { background: #dcfce7; color: #166534; }
  .audit.altered, .audit.missing, .audit.extra, .audit.broken { background: #dc2626; color: #fff; }
  .audit.unverified { background: #fef3c7; color: #92400e; }
  .audit.pending, .audit.unknown { background: #e5e7eb; color: #4b5563; }
  .audit.first { outline: 2px solid #7f1d1d; outline-offset: 1px; }
`;
