/** Drawing of one tree row's lanes (lanes.ts computes them): SVG built with Lit's svg tag, no markup strings. */
import { svg, html, type TemplateResult } from 'lit';
import type { GroupRow, LaneInput, NodeRow } from './lanes.ts';

export const LANE_W = 16;
export const ROW_H = 30;
const palette = ['#2563eb', '#7c3aed', '#db2777', '#059669', '#d97706', '#0891b2', '#4b5563'];
export const laneColor = (c: number): string => palette[c % palette.length]!;
const x = (c: number): number => 8 + c * LANE_W;

export function nodeGraph<T extends LaneInput>(row: NodeRow<T>, width: number, kind: 'interrupt' | 'resume' | 'plain'): TemplateResult {
  const mid = ROW_H / 2;
  const w = 16 + (width - 1) * LANE_W;
  const fill = kind === 'interrupt' ? '#ea580c' : kind === 'resume' ? '#2563eb' : '#fff';
  return html`<svg class="graph" width=${w} height=${ROW_H} viewBox="0 0 ${w} ${ROW_H}" aria-hidden="true">
    ${row.through.map((c) => svg`<line x1=${x(c)} y1="0" x2=${x(c)} y2=${ROW_H} stroke=${laneColor(c)} stroke-width="2" />`)}
    ${row.joins.map((c) =>
      c === row.lane
        ? svg`<line x1=${x(c)} y1="0" x2=${x(c)} y2=${mid} stroke=${laneColor(c)} stroke-width="2" />`
        : svg`<path d="M ${x(c)} 0 C ${x(c)} ${mid * 0.8}, ${x(row.lane)} ${mid * 0.4}, ${x(row.lane)} ${mid}" fill="none" stroke=${laneColor(c)} stroke-width="2" />`,
    )}
    ${row.down ? svg`<line x1=${x(row.lane)} y1=${mid} x2=${x(row.lane)} y2=${ROW_H} stroke=${laneColor(row.lane)} stroke-width="2" />` : ''}
    <circle cx=${x(row.lane)} cy=${mid} r="5" fill=${fill} stroke=${kind === 'plain' ? laneColor(row.lane) : fill} stroke-width="2.5" />
  </svg>`;
}

/** the root lanes passing a group row: an SVG the row stretches (lines to 100%), no inline styles (CSP) */
export function groupLanes<T extends LaneInput>(row: GroupRow<T>, width: number): TemplateResult {
  const w = 16 + (width - 1) * LANE_W;
  return html`<svg class="lanes" width=${w} height="100%" aria-hidden="true">
      ${row.through.map((c) => svg`<line x1=${x(c)} y1="0" x2=${x(c)} y2="100%" stroke=${laneColor(c)} stroke-width="2" />`)}
    </svg>
    <svg class="lane-space" width=${w} height="1" aria-hidden="true"></svg>`;
}
