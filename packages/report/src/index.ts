export { createImageLoader } from "./image-loader.ts";
export {
  escapeHtml,
  type Figure,
  type ReportFailure,
  type ReportPage,
  type ReportRow,
  renderReportPage,
} from "./report-page.ts";
export {
  type ImageLoader,
  makeThumbnail,
  type ReportSource,
  type WriteReportOptions,
  type WrittenReport,
  writeBatchReport,
} from "./report-writer.ts";
