export { isPublicAddress } from "./address-policy.ts";
export { assertPublicUrl, type EgressPolicy, EgressRefusedError, guardedFetch } from "./guarded-fetch.ts";
