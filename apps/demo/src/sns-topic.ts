import type { CreatedObject, EmbeddedS3 } from "@reframe/storage";
import type { LocalSns } from "@reframe/testkit";
import type { UploadWatch } from "./upload-triggers.ts";

/**
 * The embedded S3's bucket notifications, as on AWS: each object created becomes an S3 event
 * (`Records`, the key URL-encoded as S3 writes it) published to the local SNS topic, which signs it
 * and delivers it to its subscription, the API's intake. A failed publish is reported and the next
 * object goes on.
 */
export function publishUploadsToSns(
  s3: EmbeddedS3,
  sns: Pick<LocalSns, "publish">,
  onError: (error: unknown) => void = (error) => console.error("publishing an upload to SNS failed:", error),
): UploadWatch {
  let chain = Promise.resolve();
  const unsubscribe = s3.onObjectCreated((object) => {
    chain = chain.then(() =>
      sns
        .publish(JSON.stringify(s3Notification(object)), { subject: "Amazon S3 Notification" })
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

/** An S3 event notification of one created object, in the shape S3 publishes to SNS. */
function s3Notification(object: CreatedObject, time = new Date()) {
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "us-east-1",
        eventTime: time.toISOString(),
        eventName: "ObjectCreated:Put",
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "reframe-uploads",
          bucket: { name: object.bucket, arn: `arn:aws:s3:::${object.bucket}` },
          object: {
            key: encodeURIComponent(object.key).replaceAll("%2F", "/").replaceAll("%20", "+"),
            ...(object.size === undefined ? {} : { size: object.size }),
            ...(object.eTag === undefined ? {} : { eTag: object.eTag }),
            ...(object.versionId === undefined ? {} : { versionId: object.versionId }),
            ...(object.sequencer === undefined ? {} : { sequencer: object.sequencer }),
          },
        },
      },
    ],
  };
}
