// @tessera/client: the browser and React Native client for Tessera's first-party flows.
export { TesseraClient, type ClientEvents, type LoginInput, type LoginResult, type MfaStatus, type RefreshTokenStore, type SecondFactor, type TesseraClientOptions, type TotpEnrollment } from './client.js';
export { TesseraError, type SessionEndReason } from './errors.js';
export type { Passkey, PasskeySignInInput, PasskeySupport } from './passkeys.js';
export type { Identity, Provider, ProviderResult, ProviderSignInInput } from './providers.js';
export type { CredentialsApi } from './webauthn.js';
export type { SharedToken } from './tabs.js';
