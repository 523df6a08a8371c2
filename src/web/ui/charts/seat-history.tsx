// A seat's recent boots as two SVG bar charts (boot time, bytes moved), fetched from
// /api/v1/history; shown on the seat page and on its history page.
import type { Ui } from '../kit.js';
import { formatBytes } from '../layout.js';
import { BarChart, type Bar } from './bars.js';

export interface HistoryRecord {
  startedAt: string;
  loginAt: number | null;
  firstWriteAt: number | null;
  bytesRead: number;
  bytesWritten: number;
  fault: string | null;
}

export const bootLabel = (r: HistoryRecord) => new Date(r.startedAt).toISOString().slice(0, 16).replace('T', ' ');

export function HistoryCharts(props: { records: HistoryRecord[] }) {
  const bootBars: Bar[] = props.records.map((r) => {
    const ms = r.firstWriteAt ?? r.loginAt;
    const value = ms === null ? null : ms - Date.parse(r.startedAt);
    return { label: bootLabel(r), value, text: value === null ? r.fault ?? 'no login' : `${(value / 1000).toFixed(1)} s`, fault: r.fault !== null };
  });
  const byteBars: Bar[] = props.records.map((r) => ({ label: bootLabel(r), value: r.bytesRead + r.bytesWritten, text: `${formatBytes(r.bytesRead)} read, ${formatBytes(r.bytesWritten)} written` }));
  return (
    <div class="charts">
      <BarChart title="Boot time (script fetch to first write)" bars={bootBars} unit="ms" />
      <BarChart title="Bytes read and written per boot" bars={byteBars} unit="B" />
    </div>
  );
}

/** The last 30 days' boots (at most 30) of a seat, as charts with a link to the history page. */
export async function SeatBootCharts(props: { ui: Ui; name: string }) {
  const result = await props.ui.call<HistoryRecord[]>('GET', `/api/v1/history?seat=${encodeURIComponent(props.name)}&days=30`);
  if (!result.ok || !Array.isArray(result.data)) return null;
  const records = result.data.slice(-30);
  return (
    <section class="card boot-history">
      <h2>Recent boots</h2>
      {records.length === 0 ? <p class="muted">No boots recorded in the last 30 days.</p> : <HistoryCharts records={records} />}
      <p>
        <a href={`/seats/${encodeURIComponent(props.name)}/history`}>Boot history</a>
      </p>
    </section>
  );
}
