/** Calls to the gateway's /admin API over real HTTP. */
export interface AdminResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export async function adminCall<T = Record<string, unknown>>(
  baseUrl: string,
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<AdminResponse<T>> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}/admin${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Creates a team (ignoring "exists") and a key in it with the admin key; returns the key's id and secret. */
export async function createKey(
  baseUrl: string,
  adminKey: string,
  team: string,
  fields: Record<string, unknown> = {},
): Promise<{ id: string; secret: string; body: Record<string, unknown> }> {
  const t = await adminCall(baseUrl, adminKey, 'POST', '/teams', { id: team });
  if (t.status !== 201 && t.status !== 409)
    throw new Error(`team create: ${t.status} ${JSON.stringify(t.body)}`);
  const k = await adminCall(baseUrl, adminKey, 'POST', '/keys', { team, ...fields });
  if (k.status !== 201) throw new Error(`key create: ${k.status} ${JSON.stringify(k.body)}`);
  return { id: k.body.id as string, secret: k.body.secret as string, body: k.body };
}

/** Polls until `fn` returns a value that is not undefined, or fails after the deadline. */
export async function eventually<T>(fn: () => Promise<T | undefined>, deadlineMs = 5_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
