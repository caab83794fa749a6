// Copies the admin page (hand-written HTML, CSS and JS: nothing to compile) next to the compiled
// module that serves it, so `dist/ui/` ships in the package.
import { cpSync } from 'node:fs';

cpSync(new URL('../lib/ui/', import.meta.url), new URL('../dist/ui/', import.meta.url), {
  recursive: true,
});
