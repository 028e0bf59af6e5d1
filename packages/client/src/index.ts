// @tessera/client: the browser and React Native client for Tessera's first-party flows.
export { TesseraClient, type ClientEvents, type LoginInput, type LoginResult, type MfaStatus, type RefreshTokenStore, type SecondFactor, type TesseraClientOptions, type TotpEnrollment } from './client.js';
export { TesseraError, type SessionEndReason } from './errors.js';
export type { SharedToken } from './tabs.js';
