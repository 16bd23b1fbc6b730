// The viewer's front end: built into web/dist, which `threadlog ui` serves (no CDN, works
// offline). One bundle, no code splitting: the page is small and loads in one request.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: false,
  },
});
