/**
 * Replaces every known secret (provider credentials, tokens) and anything that
 * looks like an Authorization value in text bound for the operator's log.
 * Logs may name paths (SPEC §2), but never a credential.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out
    .replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/\b(authorization|api[_-]?key|token|password|secret)(["']?\s*[:=]\s*["']?)(?!bearer\b|basic\b)[^\s"',;]+/gi, '$1$2[redacted]');
}

/** A connection URL as an operator may see it: the password replaced. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable URL]';
  }
}
