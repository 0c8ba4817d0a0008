use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use tributary_plugin_sdk::{PluginInfo, Sink};
use tributary_sink_parquet::ParquetSink;

use crate::common::{Moto, assert_same_records, cxone_batch, moto, pyarrow_read};
use crate::local::{W1, W2, cp, ctx, sink};

/// Downloads every object under `prefix` into `dir`, returning (key, size, etag).
fn download(
    m: &Moto,
    bucket: &str,
    prefix: &str,
    dir: &std::path::Path,
) -> Vec<(String, u64, String)> {
    let store = m.store(bucket);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let prefix = object_store::path::Path::from(prefix);
        let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
        let mut out = vec![];
        for meta in metas {
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let p = dir.join(meta.location.as_ref());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
            out.push((
                meta.location.to_string(),
                meta.size,
                meta.e_tag.unwrap_or_default(),
            ));
        }
        out.sort();
        out
    })
}

#[test]
fn s3_roundtrip_rerun_and_manifest() {
    let Some(m) = moto() else { return };
    m.create_bucket("lake");
    let cfg = json!({"url": "s3://lake/cxone/interactions", "partition_by": ["startTime:day"], "s3": m.s3_config()});
    let (b1, e1) = cxone_batch(0, 5000);
    let (b2, e2) = cxone_batch(5000, 5000);
    let mut s = sink(cfg.clone(), "run1");
    s.healthcheck().unwrap();
    s.write(&b1).unwrap();
    let ack1 = s.flush(&cp(W1)).unwrap();
    s.write(&b2).unwrap();
    s.flush(&cp(W2)).unwrap();
    s.close().unwrap();
    assert!(
        ack1.files
            .iter()
            .all(|f| f.path.starts_with("s3://lake/cxone/interactions/date=")),
        "{:?}",
        ack1.files
    );

    // Re-run window 1 with the same input: same keys, nothing doubled.
    let mut s = sink(cfg, "run2");
    s.write(&b1).unwrap();
    let again = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(
        ack1.files
            .iter()
            .map(|f| (&f.path, &f.sha256))
            .collect::<Vec<_>>(),
        again
            .files
            .iter()
            .map(|f| (&f.path, &f.sha256))
            .collect::<Vec<_>>()
    );

    let dir = tempfile::tempdir().unwrap();
    let objects = download(&m, "lake", "cxone/interactions", dir.path());
    let keys: Vec<&str> = objects.iter().map(|o| o.0.as_str()).collect();
    assert!(
        keys.contains(&"cxone/interactions/_manifests/run1.json"),
        "{keys:?}"
    );
    assert!(keys.iter().all(|k| !k.contains("_tmp")), "{keys:?}");
    let (files, rows) = pyarrow_read(&dir.path().join("cxone/interactions"));
    assert_eq!(files.len(), 8, "{files:?}");
    assert_same_records(&rows, &[e1, e2].concat());

    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("cxone/interactions/_manifests/run1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["files"].as_array().unwrap().len(), 8);
    assert_eq!(manifest["rows"], 10_000);
}

#[test]
fn s3_large_file_goes_up_in_multipart_parts() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use sha2::Digest;
    use std::sync::Arc;
    let Some(m) = moto() else { return };
    m.create_bucket("big");
    // ~14 MB of incompressible text, uncompressed: three 5 MiB parts.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = 100_000;
    let ids: Vec<String> = (0..n).map(|i| format!("id-{i:08}")).collect();
    let noise: Vec<String> = (0..n)
        .map(|_| (0..8).map(|_| format!("{:016x}", next())).collect())
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(ids))),
        ("noise", Arc::new(StringArray::from(noise.clone()))),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let cfg = json!({"url": "s3://big/p", "compression": "none", "upload_part_bytes": 5 * 1024 * 1024, "s3": m.s3_config()});
    let mut s = sink(cfg, "r");
    for i in 0..10 {
        s.write(&batch.slice(i * 10_000, 10_000)).unwrap();
    }
    let ack = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(ack.files.len(), 1);
    let f = &ack.files[0];
    assert!(f.bytes > 12 * 1024 * 1024, "{}", f.bytes);

    let dir = tempfile::tempdir().unwrap();
    let objects = download(&m, "big", "p", dir.path());
    let (_, size, _) = objects
        .iter()
        .find(|o| o.0 == format!("p/part-{W1}-00000.parquet"))
        .unwrap();
    assert_eq!(*size, f.bytes);
    let bytes = std::fs::read(dir.path().join(format!("p/part-{W1}-00000.parquet"))).unwrap();
    assert_eq!(f.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    let (_, rows) = pyarrow_read(&dir.path().join("p"));
    assert_eq!(rows.len(), n);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["noise"], noise[i]);
    }
}

#[test]
fn s3_healthcheck_names_a_missing_bucket() {
    let Some(m) = moto() else { return };
    let cfg = json!({"url": "s3://no-such-bucket/p", "s3": m.s3_config()});
    let mut s = ParquetSink::create(serde_json::from_value(cfg).unwrap(), &ctx("r")).unwrap();
    let e = s.healthcheck().unwrap_err();
    assert!(e.message.contains("s3://no-such-bucket/p"), "{e}");
    assert!(!e.message.contains("testing"), "credentials leaked: {e}");
}

#[test]
fn s3_upload_streams_multipart_parts() {
    use tributary_sink_parquet::writer::{Store, Upload};
    let Some(m) = moto() else { return };
    m.create_bucket("parts");
    let cfg: tributary_sink_parquet::ParquetConfig =
        serde_json::from_value(json!({"url": "s3://parts/p", "s3": m.s3_config()})).unwrap();
    let store = Store::open(&cfg.validate().unwrap()).unwrap();
    let key = store.key("big.bin").unwrap();
    let mut up = Upload::new(key.clone(), 5 * 1024 * 1024);
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..12 {
        up.push(&store, &chunk).unwrap();
    }
    let (bytes, _) = up.finish(&store).unwrap();
    assert_eq!(bytes, 12 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let objects = download(&m, "parts", "p", dir.path());
    let (_, size, etag) = &objects[0];
    assert_eq!(*size, bytes);
    // S3 gives multipart objects an ETag "<md5>-<parts>": 5 + 5 + 2 MiB.
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "expected a 3-part multipart upload, ETag {etag}"
    );
    // A small object is a single PUT.
    let mut up = Upload::new(store.key("small.bin").unwrap(), 5 * 1024 * 1024);
    up.push(&store, b"tiny").unwrap();
    up.finish(&store).unwrap();
    let objects = download(&m, "parts", "p", dir.path());
    assert!(!objects[1].2.contains('-'), "{:?}", objects[1]);
}
