// HTTP access to the views API with the signed-in key (kept in sessionStorage, never in the URL).

const KEY = "tally.key";
const TENANT = "tally.tenant";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get tenant() { return sessionStorage.getItem(TENANT); },
  signIn(tenant, key) { sessionStorage.setItem(TENANT, tenant); sessionStorage.setItem(KEY, key); },
  signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(TENANT); },
};

function headers(extra = {}) {
  return { authorization: `Bearer ${session.key}`, ...extra };
}

async function failure(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body.error) message = body.error;
    else if (Array.isArray(body.detail)) message = body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  } catch { /* not JSON */ }
  return new ApiError(response.status, message);
}

export async function get(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const url = query.toString() ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { "content-type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export function tenantPath(rest) {
  return `/api/dashboard/${encodeURIComponent(session.tenant)}${rest}`;
}

// Downloads a file the API streams (the key goes in a header, so a plain link cannot do it).
export async function download(path, params, fallbackName) {
  const query = new URLSearchParams(params);
  const response = await fetch(`${path}?${query}`, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const disposition = response.headers.get("content-disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
export function stream(path, onEvent, onError) {
  const controller = new AbortController();
  (async () => {
    try {
      const response = await fetch(path, { headers: headers(), signal: controller.signal });
      if (!response.ok) throw await failure(response);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) onError(error);
    }
  })();
  return () => controller.abort();
}
