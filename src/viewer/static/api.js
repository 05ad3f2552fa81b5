// Talking to the API. The credential (a viewer token or an API key) is kept in this tab's
// sessionStorage only, and sent in the Authorization header, never in a URL.

const STORE = "trailmark.viewer.credential";

/** Move a token from the URL fragment (`#token=...`) into sessionStorage, and clear it. */
export function takeTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    sessionStorage.setItem(STORE, token);
    history.replaceState(history.state, "", location.pathname + location.search);
  }
}

export const credential = () => sessionStorage.getItem(STORE);
export const remember = (value) => sessionStorage.setItem(STORE, value);
export const forget = () => sessionStorage.removeItem(STORE);

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function request(path, params = [], body = undefined) {
  const url = new URL(path, location.origin);
  for (const [name, value] of params) url.searchParams.append(name, value);
  const headers = { Authorization: `Bearer ${credential()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) {
    let detail = `The server answered ${response.status}.`;
    try {
      const problem = await response.json();
      if (typeof problem.detail === "string") detail = problem.detail;
    } catch {
      // not problem+json: keep the status
    }
    throw new ApiError(response.status, detail);
  }
  return response;
}

export const getJson = async (path, params) => (await request(path, params)).json();
export const getText = async (path, params) => (await request(path, params)).text();
export const getBlob = async (path, params) => (await request(path, params)).blob();
export const postJson = async (path, body) => (await request(path, [], body)).json();

/** What the service says about itself (`GET /`, no credential): whether AI is configured. */
export async function serviceInfo() {
  const response = await fetch("/", { credentials: "omit", referrerPolicy: "no-referrer" });
  return response.ok ? response.json() : {};
}
