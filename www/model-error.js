// The one error the model store throws: a message written for the person at the page, saying
// what went wrong and what to do, and a stable code for scripts.
//
// Codes: invalid-id, not-found, no-access, gated, rate-limited, hub, offline, network, aborted,
// truncated, integrity, no-config, no-weights, pytorch-only, unrecognised, bad-file,
// mixed-formats, does-not-fit, storage, busy.

export class ModelStoreError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ModelStoreError';
    this.code = code;
  }
}
