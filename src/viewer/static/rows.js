// Table rows and the detail panel. Event content is hostile: it only ever becomes text
// nodes (textContent), never markup.

const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

/** A timestamp of the API as the reader's locale writes it (as given when it is no date). */
export function time(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : TIME.format(date);
}

function actor(event) {
  const who = event.actor ?? {};
  return [who.name, who.id].filter(Boolean).join(" · ");
}

export function eventRow(event, open) {
  const row = document.createElement("tr");
  const action = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = event.action ?? event.action_type;
  button.addEventListener("click", () => open(event.id));
  action.append(button);
  const status = ["success", "failure", "pending"].includes(event.status) ? event.status : "";
  row.append(
    cell(time(event.occurred_at)),
    action,
    cell(actor(event)),
    cell(`${event.entity_type}/${event.entity_id}`),
    cell(event.status, status),
  );
  return row;
}

function* fields(value, prefix = "") {
  for (const [name, item] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      yield* fields(item, key);
    } else {
      yield [key, Array.isArray(item) ? JSON.stringify(item) : String(item)];
    }
  }
}

/** Fill the detail panel with every field, and the raw JSON exactly as the API sent it. */
export function showDetails(dialog, raw) {
  const list = dialog.querySelector("dl");
  list.replaceChildren();
  for (const [name, value] of fields(JSON.parse(raw))) {
    const term = document.createElement("dt");
    term.textContent = name;
    const description = document.createElement("dd");
    description.textContent = value;
    list.append(term, description);
  }
  dialog.querySelector("pre").textContent = raw;
  if (!dialog.open) dialog.showModal();
}
