// oidc-provider ships no types; the tests use a small part of it (test/helpers/acme.ts).
declare module 'oidc-provider';
