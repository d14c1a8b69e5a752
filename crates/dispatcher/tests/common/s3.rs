//! Reading what S3 destinations wrote, from the test's moto server.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::ObjectStore;
use pulsegate_testkit::s3::{TestS3, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// A client of `bucket` on the test's S3 server, with its credentials.
pub fn s3_reader(s3: &TestS3, bucket: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(s3.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .expect("an S3 client of the test server"),
    )
}

/// Every key under `prefix` (all keys for "").
pub async fn s3_keys(store: &dyn ObjectStore, prefix: &str) -> Vec<Path> {
    use futures_util::TryStreamExt;
    let prefix = (!prefix.is_empty()).then(|| Path::from(prefix));
    store
        .list(prefix.as_ref())
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .expect("listing the test bucket")
}
