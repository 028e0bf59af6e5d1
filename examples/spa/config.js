// Replaced by serve.ts when it is started with --api. Left empty, app.js falls back to
// ?api=… in the page URL, then to http://localhost:3000.
window.TESSERA_CONFIG = window.TESSERA_CONFIG || {};
