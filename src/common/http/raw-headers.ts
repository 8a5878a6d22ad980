/**
 * Whether the header `lowerName` came more than once. Node keeps the first
 * Host and the first Authorization and drops the others without a word, so
 * only the raw list tells.
 */
export function isRepeatedHeader(rawHeaders: readonly string[], lowerName: string): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length !== lowerName.length || name.toLowerCase() !== lowerName) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
