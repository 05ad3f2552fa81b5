// The activity chart: events per day (or hour) from `/audits/stats`, as inline SVG bars.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 80;

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/** Draw `buckets` ([{start, key, count}]) into `figure`, one bar per start, summed over keys. */
export function drawActivity(figure, buckets, interval) {
  const totals = new Map();
  for (const bucket of buckets) totals.set(bucket.start, (totals.get(bucket.start) ?? 0) + bucket.count);
  const starts = [...totals.keys()].sort();
  const highest = Math.max(1, ...totals.values());
  const total = [...totals.values()].reduce((sum, count) => sum + count, 0);
  const label = `Activity: ${total} events over ${starts.length} ${interval}${starts.length === 1 ? "" : "s"}`;
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMinYMid meet",
  });
  const step = Math.min(WIDTH / Math.max(starts.length, 1), 20); // a few days: thin bars, left
  starts.forEach((start, i) => {
    const height = Math.max(1, (totals.get(start) / highest) * (HEIGHT - 2));
    const bar = svg("rect", {
      x: i * step + step * 0.1,
      y: HEIGHT - height,
      width: step * 0.8,
      height,
      class: "bar",
    });
    const title = svg("title", {});
    title.textContent = `${start}: ${totals.get(start)}`;
    bar.append(title);
    chart.append(bar);
  });
  const caption = document.createElement("figcaption");
  caption.textContent = label.replace("Activity: ", "");
  figure.replaceChildren(chart, caption);
  figure.hidden = starts.length === 0;
}
