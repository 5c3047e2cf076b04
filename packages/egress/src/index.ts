export { isPublicAddress } from "./address-policy.ts";
export { createGuardedFetch, type EgressPolicy, type GuardedFetch } from "./guarded-fetch.ts";
export { EgressRefusedError, type Resolve, type ResolvedAddress } from "./pinned-lookup.ts";
