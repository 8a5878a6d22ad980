// class-transformer ships types/storage.d.ts but resolves 'class-transformer/cjs/storage' to a file without one.
declare module 'class-transformer/cjs/storage' {
  export const defaultMetadataStorage: unknown;
}
