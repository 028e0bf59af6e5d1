/**
 * The `ready` promise of a denylist sync: resolved by the first complete load, rejected if the
 * sync is closed before one. Settling twice is a no-op (a promise settles once), so callers
 * need no flag. Nobody has to await it: an unobserved rejection is not reported.
 */
export function firstLoad(): { promise: Promise<void>; loaded: () => void; closedBefore: (err: Error) => void } {
  let loaded!: () => void;
  let closedBefore!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    loaded = resolve;
    closedBefore = reject;
  });
  promise.catch(() => {});
  return { promise, loaded, closedBefore };
}
