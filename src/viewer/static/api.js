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

async function request(path, params = []) {
  const url = new URL(path, location.origin);
  for (const [name, value] of params) url.searchParams.append(name, value);
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${credential()}` },
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
