/** What every redacted value, header, field or secret is replaced with in a log line. */
export const REDACTED = '[redacted]';

/**
 * The secret values (provider key, API keys, database password, …) that no
 * log line may print, wherever they appear. Secrets can be added while the
 * server runs (API keys are created at run time): the logger consults the
 * registry on every line.
 *
 * Replacement is one pass of one regular expression over the text, whatever
 * the number of secrets: the secrets (and their URL-encoded forms) are merged
 * into a prefix trie and compiled into a single alternation, rebuilt lazily
 * the first time the registry is used after a change.
 */
export class SecretRegistry {
  private readonly values = new Set<string>();
  private readonly shapes = new Set<string>();
  private compiled: RegExp | null = null;
  private stale = false;
  private changes = 0;

  constructor(initial: Iterable<string | null | undefined> = []) {
    this.addAll(initial);
  }

  /** Adds a secret; empty and non-string values are ignored. */
  add(value: string | null | undefined): void {
    if (typeof value !== 'string' || value.length === 0 || this.values.has(value)) return;
    this.values.add(value);
    this.stale = true;
    this.changes++;
  }

  addAll(values: Iterable<string | null | undefined>): void {
    for (const value of values) this.add(value);
  }

  /**
   * Adds the SHAPE of secrets whose values are not all known — e.g. API keys
   * created before a restart, of which only hashes are kept: with a
   * recognisable prefix (`wbk_` + 22+ base64url characters) every key is
   * redacted, known or not. Compiled into the same single expression (flags
   * of `pattern` are ignored: matching is case-sensitive).
   */
  addPattern(pattern: RegExp | string): void {
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    new RegExp(source); // throws now, not at the next log line, if invalid
    if (source.length === 0 || this.shapes.has(source)) return;
    this.shapes.add(source);
    this.stale = true;
    this.changes++;
  }

  /** Forgets a secret (lines written later may print it again: use with care). */
  delete(value: string): boolean {
    const deleted = this.values.delete(value);
    if (deleted) {
      this.stale = true;
      this.changes++;
    }
    return deleted;
  }

  has(value: string): boolean {
    return this.values.has(value);
  }

  /** How many secrets were added (their encoded variants not counted). */
  get size(): number {
    return this.values.size;
  }

  /** Increases on every change; lets callers cache work derived from the registry. */
  get version(): number {
    return this.changes;
  }

  /** The combined expression (global), or null when the registry is empty. */
  pattern(): RegExp | null {
    if (this.stale) {
      this.compiled = compileSecrets(this.values, this.shapes);
      this.stale = false;
    }
    return this.compiled;
  }

  /** Whether `text` contains any secret (in any of its forms). */
  test(text: string): boolean {
    const re = this.pattern();
    if (re === null) return false;
    re.lastIndex = 0;
    const found = re.test(text);
    re.lastIndex = 0;
    return found;
  }

  /** `text` with every occurrence of every secret replaced by `[redacted]`. */
  redact(text: string): string {
    const re = this.pattern();
    return re === null ? text : text.replace(re, REDACTED);
  }
}

/** The registry the app logger consults unless it is given its own. */
export const sharedSecretRegistry = new SecretRegistry();

/** Registers a secret (e.g. a freshly created API key) with the shared registry. */
export function registerSecret(value: string | null | undefined): void {
  sharedSecretRegistry.add(value);
}

export function registerSecrets(values: Iterable<string | null | undefined>): void {
  sharedSecretRegistry.addAll(values);
}

/** Registers the shape of a family of secrets with the shared registry (see {@link SecretRegistry.addPattern}). */
export function registerSecretPattern(pattern: RegExp | string): void {
  sharedSecretRegistry.addPattern(pattern);
}

/** The forms a secret takes in log text: as is, URL-encoded (query strings, URLs), and escaped inside a JSON string. */
function variantsOf(secret: string): string[] {
  const variants = [secret];
  const jsonEscaped = JSON.stringify(secret).slice(1, -1);
  if (jsonEscaped !== secret) variants.push(jsonEscaped);
  let encoded: string | undefined;
  try {
    encoded = encodeURIComponent(secret);
  } catch {
    // a lone surrogate cannot be encoded; the raw form is still matched
  }
  if (encoded !== undefined && encoded !== secret) variants.push(encoded);
  const formEncoded = encoded?.replace(/%20/g, '+');
  if (formEncoded !== undefined && formEncoded !== encoded) variants.push(formEncoded);
  return variants;
}

interface TrieNode {
  end: boolean;
  children: Map<string, TrieNode>;
}

const REGEXP_SPECIAL = /[\\^$.*+?()[\]{}|/]/;

function escapeChar(ch: string): string {
  return REGEXP_SPECIAL.test(ch) ? `\\${ch}` : ch;
}

/**
 * One regular expression matching any of `secrets`, longest match first. A
 * trie factors common prefixes, so at each position of the text the engine
 * compares at most one branch per distinct next character instead of trying
 * every secret.
 */
export function compileSecrets(secrets: Iterable<string>, shapes: Iterable<string> = []): RegExp | null {
  const root: TrieNode = { end: false, children: new Map() };
  let count = 0;
  for (const secret of secrets) {
    for (const variant of variantsOf(secret)) {
      let node = root;
      for (const ch of variant) {
        let next = node.children.get(ch);
        if (!next) {
          next = { end: false, children: new Map() };
          node.children.set(ch, next);
        }
        node = next;
      }
      node.end = true;
      count++;
    }
  }
  const alternatives = [...shapes].map((shape) => `(?:${shape})`);
  if (count > 0) alternatives.unshift(trieSource(root));
  if (alternatives.length === 0) return null;
  return new RegExp(alternatives.length === 1 ? alternatives[0] : alternatives.map((a) => `(?:${a})`).join('|'), 'g');
}

/** The source of a node's sub-trie. Chains of single children are emitted iteratively (no deep recursion on long secrets). */
function trieSource(start: TrieNode): string {
  let prefix = '';
  let node = start;
  while (node.children.size === 1 && !node.end) {
    const [[ch, child]] = node.children;
    prefix += escapeChar(ch);
    node = child;
  }
  if (node.children.size === 0) return prefix;
  const branches: string[] = [];
  for (const [ch, child] of node.children) branches.push(escapeChar(ch) + trieSource(child));
  const group = branches.length === 1 ? branches[0] : `(?:${branches.join('|')})`;
  // A secret ends here and longer ones continue: try the longer first (greedy `?`).
  if (node.end) return `${prefix}(?:${group})?`;
  return prefix + group;
}
