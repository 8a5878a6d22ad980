import { REDACTED, SecretRegistry } from './secret-registry';

/*
 * Pattern redaction: what a credential looks like, whether or not its value is
 * known. Logs may name paths (SPEC §2), but never a token, API key, credential
 * or request `Authorization` header. Every expression is compiled once, here;
 * each is linear in the text (no nested quantifiers, names anchored at a word
 * start).
 */

/**
 * Names whose values are credentials: a field, query parameter, header or
 * environment variable whose name ENDS with one of these (case-insensitive)
 * — `password`, `sslpassword`, `DB_PASSWORD`, `access_token`, `sessionToken`,
 * `OPENAI_API_KEY`, `x-api-key`, `client_secret`, `Set-Cookie`, `connect.sid`…
 * (`max_tokens`, `key_id` or `tokenCount` do not end with one).
 */
const SENSITIVE_SUFFIXES = 'passw(?:or)?d|pass|pwd|secret|token|key|auth|authorization|bearer|jwt|credentials?|session(?:[-_]?id)?|sid|cookie|signature|sig';

const SENSITIVE_NAME = new RegExp(`(?:${SENSITIVE_SUFFIXES})$`, 'i');

/** True when a field/parameter/header name says its value is a credential. */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

/** A PEM private key block (or what is left of one cut short). */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;

/** `scheme://user:password@host` (last `@` of the authority, as URL parsers read it): the password goes. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):([^\s/?#]*)@/gi;

/** `Authorization: …`, `Proxy-Authorization=…`, `Cookie: …`, `Set-Cookie: …`: the whole value, to the end of the line. */
const HEADER_VALUE = /(?<![\w.-])((?:proxy-)?authorization|(?:set-)?cookie)(["']?[ \t]*[:=][ \t]*)(?!\[redacted\])("[^"\r\n]*"?|'[^'\r\n]*'?|[^\r\n]+)/gi;

/** `name=value` / `name: value` / `"name": "value"` where the name ends like a credential (query strings, env assignments, DSNs, JSON text). */
const NAMED_VALUE = new RegExp(
  `(?<![\\w.-])([\\w.-]*?(?:${SENSITIVE_SUFFIXES}))(["']?[ \\t]*[:=][ \\t]*)(?!\\[redacted\\])("[^"\\r\\n]*"?|'[^'\\r\\n]*'?|[^\\s"'&,;]+)`,
  'gi',
);

/** `Bearer <token>` anywhere. */
const BEARER = /\b(bearer)\s+(?!\[redacted\])[^\s"',;]+/gi;

/** `Basic <base64 of user:password>`: only when it decodes to credentials (the English word "basic" stays). */
const BASIC = /\b(basic)\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])/gi;

/** Well-known credential shapes: provider keys (sk-…, sk-ant-…), GitHub/Slack/AWS/Google keys, JWTs. */
const TOKEN_SHAPES =
  /\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)/g;

const PRINTABLE_CREDENTIALS = /^[^\x00-\x1f\x7f\ufffd]*:[^\x00-\x1f\x7f\ufffd]*$/;

function basicReplacer(match: string, scheme: string, token: string): string {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  return PRINTABLE_CREDENTIALS.test(decoded) ? `${scheme} ${REDACTED}` : match;
}

/**
 * One pass that every pattern above needs to match for it to apply (each
 * needs `://`, `-----BEGIN`, `bearer`, `basic`, a key shape's prefix, or a
 * credential-like name followed by `:`/`=`): text without any of these skips
 * the patterns.
 */
const MAY_MATCH_A_PATTERN = new RegExp(
  `://|-----BEGIN|bearer|basic|(?:${SENSITIVE_SUFFIXES})["']?[ \\t]*[:=]|\\b(?:sk-|gh[pousr]_|github_pat_|xox[abprs]-|AKIA|AIza|eyJ)`,
  'i',
);

/**
 * `text` with every registered secret and every credential-shaped part
 * replaced by `[redacted]`. Known values go first (they may hide inside
 * anything), then the patterns.
 */
export function redactText(text: string, registry?: SecretRegistry): string {
  let out = registry ? registry.redact(text) : text;
  if (!MAY_MATCH_A_PATTERN.test(out)) return out;
  if (out.includes('-----BEGIN')) out = out.replace(PEM_PRIVATE_KEY, `${REDACTED} private key`);
  if (out.includes('://')) out = out.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`);
  if (out.includes('=') || out.includes(':')) {
    out = out.replace(HEADER_VALUE, `$1$2${REDACTED}`).replace(NAMED_VALUE, `$1$2${REDACTED}`);
  }
  return out.replace(BEARER, `$1 ${REDACTED}`).replace(BASIC, basicReplacer).replace(TOKEN_SHAPES, REDACTED);
}

/** Form-decodes a query component; each run of valid `%XX` escapes is decoded on its own, so one bad `%` spoils nothing. */
function safeDecode(component: string): string {
  return decodeEscapes(component.replace(/\+/g, ' '));
}

/** Each run of `%XX` escapes decoded where it is valid UTF-8, kept as sent where it is not. */
function decodeEscapes(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/**
 * A superset, on serialized JSON text, of what can make {@link redactJsonLine}
 * change a line: every trigger of {@link MAY_MATCH_A_PATTERN} (without the
 * separators and word boundaries, which JSON escaping may hide) and every
 * credential-like key name. Registered secrets are checked separately, in
 * their raw, URL-encoded and JSON-escaped forms. On an unescaped request
 * target, likewise a superset of what {@link redactUrl} redacts.
 */
const MAY_NEED_REDACTION = new RegExp(`://|-----BEGIN|bearer|basic|sk-|gh[pousr]_|github_pat_|xox[abprs]-|AKIA|AIza|eyJ|${SENSITIVE_SUFFIXES}`, 'i');

/** A `%XX` escape or a `+` (a space, in a form-encoded query): the decoded text differs from the raw. */
const ESCAPED = /[%+]/;

/**
 * A request target (`/path?query`) fit for the access log: every query value
 * whose (decoded) name is credential-like, or whose decoded value contains
 * anything redactable, is replaced, and so is every escaped path segment that
 * decodes to something redactable; then the whole target goes through
 * {@link redactText}.
 */
export function redactUrl(url: string, registry?: SecretRegistry): string {
  // Fast path (every access line): without an escape, each decoded component is a piece of the target, so a
  // target in which no trigger of any rule and no registered secret occurs has nothing to redact (issue 16).
  if (!ESCAPED.test(url) && !MAY_NEED_REDACTION.test(url) && !registry?.test(url)) return url;
  const q = url.indexOf('?');
  if (q < 0) return redactText(redactPath(url, registry), registry);
  const params = url.slice(q + 1).split('&');
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const decodedName = safeDecode(name);
    if (eq < 0) {
      if (redactText(decodedName, registry) !== decodedName) params[i] = REDACTED;
      continue;
    }
    const value = p.slice(eq + 1);
    const decodedValue = safeDecode(value);
    if (isSensitiveName(decodedName) || redactText(decodedValue, registry) !== decodedValue) {
      params[i] = `${redactText(decodedName, registry) === decodedName ? name : REDACTED}=${REDACTED}`;
    }
  }
  return redactText(`${redactPath(url.slice(0, q), registry)}?${params.join('&')}`, registry);
}

/**
 * A path whose escaped segments are checked decoded: `/api/runtimes/%61pi-key…`
 * hides a key from the text patterns as a query value's escapes would. A
 * segment that decodes to something redactable is replaced whole. `+` is a
 * plus in a path, not a space.
 */
function redactPath(path: string, registry: SecretRegistry | undefined): string {
  if (!path.includes('%')) return path;
  return path
    .split('/')
    .map((segment) => {
      if (!segment.includes('%')) return segment;
      const decoded = decodeEscapes(segment);
      return redactText(decoded, registry) === decoded ? segment : REDACTED;
    })
    .join('/');
}

/** Redacts a JSON string literal's content; returns the literal itself when nothing changed. */
function redactLiteral(literal: string, registry: SecretRegistry | undefined): string {
  if (literal.indexOf('\\') < 0) {
    // No escape: the content is the string itself, and redaction adds no character needing one.
    const raw = literal.slice(1, -1);
    const out = redactText(raw, registry);
    return out === raw ? literal : `"${out}"`;
  }
  let raw: string;
  try {
    raw = JSON.parse(literal) as string;
  } catch {
    return REDACTED_LITERAL; // not valid JSON: nothing in it can be vouched for
  }
  const out = redactText(raw, registry);
  return out === raw ? literal : JSON.stringify(out);
}

function literalValue(literal: string): string {
  if (literal.indexOf('\\') < 0) return literal.slice(1, -1);
  try {
    return JSON.parse(literal) as string;
  } catch {
    return '';
  }
}

/** The tokens of a JSON text that redaction looks at: string literals, brackets, and primitive values. */
const JSON_TOKEN = /"(?:[^"\\]|\\.)*"|[{}[\]]|-?\d[\d.eE+-]*|true|false|null/g;
const REDACTED_LITERAL = JSON.stringify(REDACTED);

/**
 * One serialized JSON log line, redacted wherever it came from (message,
 * error, nested fields, bindings, keys): every string literal goes through
 * {@link redactText}, and the value of any key named like a credential
 * (at any depth; a whole object or array under such a key) becomes
 * `"[redacted]"`. The line stays valid JSON.
 */
export function redactJsonLine(line: string, registry?: SecretRegistry): string {
  // Fast path: nothing in the serialized text could trigger any rule, so no literal needs a look.
  if (!MAY_NEED_REDACTION.test(line) && !registry?.test(line)) return line;
  let depth = 0;
  /** Depth at which a redacted object/array opened; -1 when outside one. */
  let floor = -1;
  let sensitiveKey = false;
  return line.replace(JSON_TOKEN, (token: string, offset: number) => {
    const first = token.charCodeAt(0);
    if (first === 0x22 /* " */) {
      let after = offset + token.length;
      while (line.charCodeAt(after) === 0x20) after++;
      if (line.charCodeAt(after) === 0x3a /* : */) {
        sensitiveKey = floor < 0 && isSensitiveName(literalValue(token));
        return redactLiteral(token, registry);
      }
      if (sensitiveKey || floor >= 0) {
        sensitiveKey = false;
        return REDACTED_LITERAL;
      }
      return redactLiteral(token, registry);
    }
    if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
      if (sensitiveKey) {
        floor = depth;
        sensitiveKey = false;
      }
      depth++;
      return token;
    }
    if (first === 0x7d /* } */ || first === 0x5d /* ] */) {
      depth--;
      if (depth === floor) floor = -1;
      return token;
    }
    // number, true, false, null
    if (token !== 'null' && (sensitiveKey || floor >= 0)) {
      sensitiveKey = false;
      return REDACTED_LITERAL;
    }
    sensitiveKey = false;
    return token;
  });
}

/**
 * Text with the given secrets and every credential-shaped part redacted.
 * Compiles an expression per call: for one-off use; long-lived code uses a
 * {@link SecretRegistry} (the app logger does).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return redactText(text, new SecretRegistry(secrets));
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
