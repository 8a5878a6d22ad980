// find-my-way ships no types for its URL sanitizer; this is the part we call (see routedPathOf).
declare module 'find-my-way/lib/url-sanitizer' {
  export function safeDecodeURI(path: string, useSemicolonDelimiter?: boolean): { path: string; querystring: string; shouldDecodeParam: boolean };
}
