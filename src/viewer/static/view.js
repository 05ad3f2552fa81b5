// The view (search and filters) lives in the URL query, so it can be shared and reloaded.

const FIELDS = ["q", "status"];

export function currentView() {
  const query = new URLSearchParams(location.search);
  return Object.fromEntries(FIELDS.map((name) => [name, query.get(name) ?? ""]));
}

export function showView(view) {
  const query = new URLSearchParams();
  for (const name of FIELDS) if (view[name]) query.set(name, view[name]);
  const search = query.toString();
  history.pushState(null, "", search ? `?${search}` : location.pathname);
}

/** The list filters of a view, as query parameters of `GET /audits`. */
export const listParams = (view) =>
  FIELDS.filter((name) => view[name]).map((name) => [name, view[name]]);
