export { renderSampleScene, SAMPLE_SCENES, type SampleScene, uploadSampleScenes } from "./sample-scenes.ts";
