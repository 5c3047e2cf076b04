/** The target and watermark shapes belong to the packages that own them; jobs only composes them. */
export { canvasPolicyShape, targetSchema } from "@reframe/geometry";
export { watermarkSchema } from "@reframe/runware";
