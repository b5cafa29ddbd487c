//! The file store: the local directory and an S3-compatible server pass the same suite (the same calls, the same
//! answers), so that moving a deployment to S3 changes a setting and nothing else.

mod common;

use bytes::Bytes;
use common::*;
use sha2::{Digest, Sha256};
use switchboard::storage::{PutError, Storage, S3_PART_BYTES};

/// `n` bytes in 64 KiB chunks, as a client or a media host sends them.
fn chunks(n: usize, seed: u8) -> (Vec<Result<Bytes, std::io::Error>>, Vec<u8>) {
    let whole: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    (whole.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect(), whole)
}

async fn read_all(storage: &Storage, key: &str) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let object = storage.get(key).await.unwrap()?;
    let mut out = Vec::new();
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out.len() as u64, object.size, "the size announced is the size served");
    Some(out)
}

async fn the_suite(storage: Storage) {
    let limit = 32 * 1024 * 1024;

    // A small file: one request; read back whole, its sha256 the file's.
    let (body, whole) = chunks(100_000, 1);
    let stored = storage.put("media/aa/small", futures_util::stream::iter(body), limit).await.unwrap();
    assert_eq!(stored.size, 100_000);
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&whole)));
    assert_eq!(read_all(&storage, "media/aa/small").await.as_deref(), Some(&whole[..]));

    // A file of several parts (a multipart upload on S3).
    let n = 2 * S3_PART_BYTES + 12_345;
    let (body, whole) = chunks(n, 2);
    let stored = storage.put("uploads/bb/large", futures_util::stream::iter(body), limit).await.unwrap();
    assert_eq!((stored.size, stored.sha256.clone()), (n as u64, hex::encode(Sha256::digest(&whole))));
    assert_eq!(read_all(&storage, "uploads/bb/large").await.as_deref(), Some(&whole[..]));

    // Over the limit, before and after the first part: refused, nothing stored under the key.
    for (key, size, limit) in [("media/cc/over-small", 300_000, 200_000), ("media/cc/over-large", n, S3_PART_BYTES + 1)]
    {
        let (body, _) = chunks(size, 3);
        match storage.put(key, futures_util::stream::iter(body), limit as u64).await {
            Err(PutError::TooLarge { limit: l }) => assert_eq!(l, limit as u64),
            other => panic!("{key}: expected TooLarge, got {:?}", other.map(|s| s.size)),
        }
        assert!(read_all(&storage, key).await.is_none(), "{key}: nothing left behind");
    }

    // The sender fails half-way (a dropped connection): nothing stored, the error is the sender's.
    let (mut body, _) = chunks(S3_PART_BYTES + 500_000, 4);
    body.truncate(body.len() - 2);
    body.push(Err(std::io::Error::other("connection reset")));
    match storage.put("media/dd/interrupted", futures_util::stream::iter(body), limit).await {
        Err(PutError::Source(e)) => assert_eq!(e.to_string(), "connection reset"),
        other => panic!("expected the source's error, got {:?}", other.map(|s| s.size)),
    }
    assert!(read_all(&storage, "media/dd/interrupted").await.is_none());

    // An empty file is a file (the caller decides whether it wants one).
    let empty = storage.put("uploads/ee/empty", futures_util::stream::empty::<Result<Bytes, std::io::Error>>(), limit);
    assert_eq!(empty.await.unwrap().size, 0);
    assert_eq!(read_all(&storage, "uploads/ee/empty").await, Some(vec![]));

    // Deleting: gone, and deleting again (or what never was) is not an error.
    storage.delete("media/aa/small").await.unwrap();
    assert!(read_all(&storage, "media/aa/small").await.is_none());
    storage.delete("media/aa/small").await.unwrap();
    storage.delete("media/zz/never").await.unwrap();
    assert!(storage.get("media/zz/never").await.unwrap().is_none());
}

#[tokio::test]
async fn the_local_directory_passes_the_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    the_suite(Storage::local(dir.path()).await.unwrap()).await;
    // Nothing half-written stays beside the files (staging files are renamed or removed).
    let mut left: Vec<String> = Vec::new();
    for top in ["media", "uploads"] {
        for sub in std::fs::read_dir(dir.path().join(top)).unwrap() {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                left.push(f.unwrap().path().strip_prefix(dir.path()).unwrap().display().to_string());
            }
        }
    }
    left.sort();
    assert_eq!(left, ["uploads/bb/large", "uploads/ee/empty"]);
}

#[tokio::test]
async fn an_s3_compatible_server_passes_the_storage_suite() {
    let s3 = S3Server::start().await;
    let (settings, _dir) = test_settings(|env| env.extend(s3.env())).await;
    let storage = Storage::open(&settings.storage, &settings.data_dir).await.unwrap();
    the_suite(storage).await;
    let mut keys = s3.keys().await;
    keys.sort();
    assert_eq!(keys, ["uploads/bb/large", "uploads/ee/empty"], "only the files stored remain in the bucket");
}

#[tokio::test]
async fn a_bucket_that_cannot_be_reached_stops_start_up_and_names_the_settings() {
    let s3 = S3Server::start().await;
    let (mut settings, _dir) = test_settings(|env| env.extend(s3.env())).await;
    settings.storage.s3_bucket = "no-such-bucket".into();
    let e = match Storage::open(&settings.storage, &settings.data_dir).await {
        Ok(_) => panic!("opened a bucket that does not exist"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("storage.s3_bucket"), "{e}");
}
