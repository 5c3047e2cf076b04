import type { EmbeddedS3 } from "@reframe/embedded-s3";
import type { LocalSns } from "@reframe/testkit";
import type { UploadWatch } from "./upload-triggers.ts";

/**
 * The embedded S3's bucket notifications, as on AWS: each S3 event (`Records`, the key URL-encoded
 * as S3 writes it) is published to the local SNS topic, which signs it and delivers it to its
 * subscription, the API's intake. A failed publish is reported and the next notification goes on.
 */
export function publishUploadsToSns(
  s3: EmbeddedS3,
  sns: Pick<LocalSns, "publish">,
  onError: (error: unknown) => void = (error) => console.error("publishing an upload to SNS failed:", error),
): UploadWatch {
  let chain = Promise.resolve();
  const unsubscribe = s3.onNotification((notification) => {
    // The bucket notifies of created objects only (`s3:ObjectCreated:*`), as README's setup configures it.
    if (!notification.Records.some((record) => record.eventName.startsWith("ObjectCreated"))) return;
    chain = chain.then(() =>
      sns
        .publish(JSON.stringify(notification), { subject: "Amazon S3 Notification" })
        .then(() => undefined, onError),
    );
  });
  return {
    settled: () => chain,
    async stop() {
      unsubscribe();
      await chain;
    },
  };
}
