// `npm start`: the build check of scripts/build.mjs (compiles and bundles only what is out of
// date), then the bundled server in this same process. One Node start instead of two (a second
// `node dist/main.js` after the check) keeps `npm start` with nothing changed within
// issue 16's one second to the first answer.
import { createRequire } from 'node:module';
import { ensureBuilt } from './build.mjs';

createRequire(import.meta.url)(await ensureBuilt());
