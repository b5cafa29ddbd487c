//! Where files live: customers' media, agents' uploads. One interface over the `object_store` crate, with two
//! backends: the local data directory (the default, nothing to configure) or any S3-compatible store (AWS S3,
//! MinIO, Ceph, R2) that every node shares, so that a file one node stored is served by any other.
//!
//! Guarantees: a file is streamed in and out, never held whole in memory (at most one part of
//! [`S3_PART_BYTES`] while writing to S3, whose multipart uploads need parts of 5 MiB; chunks as they arrive
//! while reading); its size is cut off at the caller's limit and its sha256 computed on the way in; a key is
//! either absent or holds the whole file (the local backend writes to a staging file and renames it; S3 makes a
//! multipart upload visible only when it completes), so a crash mid-write leaves nothing half-written behind
//! a key.

use crate::config::{StorageBackend, StorageSettings};
use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// S3's smallest part but for the last; parts all of one size also suit R2.
pub const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// The local backend writes through in parts of this size (no minimum there).
const LOCAL_PART_BYTES: usize = 256 * 1024;
/// The top-level directories of the local backend, created `0700` so that nothing under them is readable by
/// another user, whatever mode the store gives the files inside.
const LOCAL_DIRS: [&str; 2] = ["media", "uploads"];

/// The file store every node shares. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.store)
    }
}

/// What [`Storage::put`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// A stored file, ready to stream.
pub struct Object {
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// Why [`Storage::put`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError<E> {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The incoming stream failed (the client or the media host).
    #[error("{0}")]
    Source(E),
    #[error("file storage: {0}")]
    Store(#[from] object_store::Error),
}

impl Storage {
    /// The store the settings name; for S3, checked by a request at once, so that a wrong bucket, endpoint or
    /// credential stops start-up instead of failing the first download.
    pub async fn open(settings: &StorageSettings, data_dir: &Path) -> anyhow::Result<Self> {
        match settings.backend {
            StorageBackend::Local => Self::local(data_dir).await,
            StorageBackend::S3 => {
                let storage = Self::s3(settings)?;
                storage.check().await.with_context(|| {
                    format!(
                        "cannot reach the S3 bucket {:?} (storage.s3_bucket, storage.s3_endpoint and the credentials)",
                        settings.s3_bucket
                    )
                })?;
                Ok(storage)
            }
        }
    }

    /// Files under `dir` (the data directory): keys are paths relative to it.
    pub async fn local(dir: &Path) -> anyhow::Result<Self> {
        for top in LOCAL_DIRS {
            crate::files::private_dir(&dir.join(top))
                .await
                .with_context(|| format!("cannot create {}", dir.join(top).display()))?;
        }
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("file storage in {}", dir.display()))?;
        Ok(Self { store: Arc::new(store), part_bytes: LOCAL_PART_BYTES })
    }

    /// An S3-compatible bucket. Credentials not set here come from the usual `AWS_*` environment variables.
    pub fn s3(settings: &StorageSettings) -> anyhow::Result<Self> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&settings.s3_bucket)
            .with_region(&settings.s3_region);
        if let Some(endpoint) = &settings.s3_endpoint {
            // MinIO, Ceph and most others address buckets by path; plain http only when the endpoint says so.
            builder = builder
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .with_allow_http(endpoint.scheme() == "http")
                .with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &settings.s3_access_key_id {
            builder = builder.with_access_key_id(id.expose_secret());
        }
        if let Some(secret) = &settings.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        let s3 = builder.build().context("storage.s3_* settings")?;
        let store: Arc<dyn ObjectStore> = match settings.s3_prefix.trim_matches('/') {
            "" => Arc::new(s3),
            prefix => Arc::new(object_store::prefix::PrefixStore::new(s3, prefix)),
        };
        Ok(Self { store, part_bytes: S3_PART_BYTES })
    }

    /// Lists the top level (one request, one page): proves the bucket exists and the credentials may read it.
    /// (A `HEAD` of a missing key would not do: S3 answers 404 for a missing bucket too.)
    async fn check(&self) -> Result<(), object_store::Error> {
        self.store.list_with_delimiter(None).await.map(drop)
    }

    /// Streams `body` to `key`, at most `limit` bytes. Nothing is left behind when it fails.
    pub async fn put<S, E>(&self, key: &str, body: S, limit: u64) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let key = Key::from(key);
        let mut body = std::pin::pin!(body);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut pending = BytesMut::new();
        let mut upload: Option<WriteMultipart> = None;
        let result = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(PutError::Source)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(PutError::TooLarge { limit });
                }
                hasher.update(&chunk);
                match &mut upload {
                    Some(parts) => {
                        // One part in flight at a time holds the memory to about two parts.
                        parts.wait_for_capacity(1).await?;
                        parts.put(chunk);
                    }
                    None => {
                        pending.extend_from_slice(&chunk);
                        if pending.len() >= self.part_bytes {
                            let mut parts = WriteMultipart::new_with_chunk_size(
                                self.store.put_multipart(&key).await?,
                                self.part_bytes,
                            );
                            parts.put(std::mem::take(&mut pending).freeze());
                            upload = Some(parts);
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        match (result, upload) {
            (Ok(()), Some(parts)) => {
                parts.finish().await?;
            }
            (Ok(()), None) => {
                // Smaller than one part: a single request.
                self.store.put(&key, PutPayload::from(pending.freeze())).await?;
            }
            (Err(e), Some(parts)) => {
                if let Err(abort) = parts.abort().await {
                    tracing::warn!(error = %abort, %key, "cannot abort an unfinished upload to the file store");
                }
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        }
        Ok(Stored { size, sha256: hex::encode(hasher.finalize()) })
    }

    /// The file at `key`, streaming; `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, object_store::Error> {
        match self.store.get(&Key::from(key)).await {
            Ok(got) => Ok(Some(Object { size: got.meta.size, body: got.into_stream() })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `key`; a key already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
