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
  return out.replace(/(authorization|bearer|api[_-]?key|token)(["']?\s*[:=]\s*["']?|\s+)[^\s"',;]+/gi, '$1$2[redacted]');
}
