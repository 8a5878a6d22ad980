import type { Middleware } from './middleware-chain';
import { ApiError } from '../errors/api-error';
import { isRepeatedHeader } from './raw-headers';

/** The host name of a Host header, without its port: `[::1]:3000` → `[::1]`, `Example.com:80` → `example.com`. */
export function hostNameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const h = host.trim().toLowerCase();
  // RFC 9110 §7.2: host [":" port], the port digits only (`localhost:abc` names no port, so no host).
  const withPort = (name: string, rest: string) => (rest === '' || /^:\d*$/.test(rest) ? name : undefined);
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? undefined : withPort(h.slice(0, end + 1), h.slice(end + 1));
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : withPort(h.slice(0, colon), h.slice(colon));
}

/**
 * DNS-rebinding guard (SPEC §11): a page on a foreign origin whose name now
 * resolves to 127.0.0.1 reaches this port, but its requests still say their
 * own name in `Host`. Only the configured names (any port) are answered;
 * everything else is `403 host_not_allowed`, before anything else runs.
 */
export function hostCheckMiddleware(allowed: readonly string[] | '*'): Middleware {
  const names = allowed === '*' ? null : new Set(allowed);
  return (req, res, next) => {
    // RFC 9112 §3.2: a request with more than one Host is answered 400, whichever one a check would read.
    if (isRepeatedHeader(req.rawHeaders, 'host')) {
      res.setHeader('Connection', 'close');
      return next(new ApiError(400, 'validation_failed', 'A request carries one Host header'));
    }
    if (names === null) return next();
    const name = hostNameOf(req.headers.host);
    if (name !== undefined && names.has(name)) return next();
    res.setHeader('Connection', 'close'); // the body, if any, is not read
    next(new ApiError(403, 'host_not_allowed', 'This server does not answer to this host name (see ALLOWED_HOSTS)'));
  };
}
