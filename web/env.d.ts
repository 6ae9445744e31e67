// Stylesheets are bundled by esbuild (src/report/html.ts) and inlined in the page.
declare module "*.css";
