// A provider API server's 403, as a message: its Status message (RBAC, quota, Pod Security, an
// admission policy), bounded, since the provider writes it. Anything else (network, 5xx, 409) is not a refusal.

/** The refusal's message for a 403; undefined for any other error. */
export function refusal(err: unknown): string | undefined {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (e.code !== 403) return undefined;
  const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? '');
  let message = e.message ?? 'Forbidden';
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    /* not JSON: keep the client's message */
  }
  return message.slice(0, 512);
}
