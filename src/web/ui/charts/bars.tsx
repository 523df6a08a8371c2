// Bar charts drawn as SVG on the server: no script, no framework, readable on a phone. Each
// bar is a <rect> with a <title> (the value, shown on long-press / hover).
export interface Bar {
  label: string;
  value: number | null;
  /** Shown in the bar's title. */
  text: string;
  fault?: boolean;
}

export function BarChart(props: { title: string; bars: Bar[]; unit: string }) {
  const width = 320;
  const height = 120;
  const pad = 18;
  const values = props.bars.map((b) => b.value ?? 0);
  const max = Math.max(1, ...values);
  const step = props.bars.length === 0 ? 0 : (width - 2) / props.bars.length;
  const barWidth = Math.max(1, step - 2);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height + pad}`} width="100%" role="img" aria-label={props.title}>
        <line x1="0" y1={height} x2={width} y2={height} stroke="#d9dde3" />
        {props.bars.map((b, i) => {
          const h = b.value === null ? 0 : Math.max(1, Math.round(((b.value ?? 0) / max) * (height - 4)));
          return (
            <rect x={(1 + i * step).toFixed(1)} y={height - h} width={barWidth.toFixed(1)} height={h} fill={b.fault ? '#b3261e' : '#0b63ce'} data-value={b.value ?? ''}>
              <title>{`${b.label}: ${b.text}`}</title>
            </rect>
          );
        })}
        <text x="0" y={height + 13} font-size="11" fill="#5b6570">
          {`max ${props.unit === 'B' ? formatAmount(max) : `${(max / 1000).toFixed(1)} s`}`}
        </text>
      </svg>
    </figure>
  );
}

function formatAmount(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
