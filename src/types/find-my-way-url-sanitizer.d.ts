// find-my-way ships no types for its URL sanitizer; this is the part we call (see routedPathOf). The deep import,
// not the public Router.sanitizeUrlPath: that one also decodes reserved characters (`%2F`), which the router does not.
declare module 'find-my-way/lib/url-sanitizer' {
  export function safeDecodeURI(path: string, useSemicolonDelimiter?: boolean): { path: string; querystring: string; shouldDecodeParam: boolean };
}
