//! Table maintenance: `optimize` (compacting small files) and `vacuum` (deleting files
//! the table no longer references). Run after a run's last window when configured, or on
//! demand by `tributary delta optimize|vacuum PIPELINE SINK`.
//!
//! delta-rs' own `optimize` needs its DataFusion feature, which would add DataFusion's
//! ~80 crates to this plugin's build (and every CI run's) for a bin-packing compaction of
//! append-only tables; this module does that compaction with the writer and commit API
//! the sink already uses: per partition, small files are read, rewritten into files of
//! about `optimize.target_file_bytes`, and swapped in one `OPTIMIZE` commit
//! (`remove` + `add`, `dataChange: false`, so streaming readers skip it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use delta_object_store::ObjectStoreExt as _;
use deltalake_core::DeltaTable;
use deltalake_core::arrow::array::{ArrayRef, RecordBatch as DBatch, StringArray};
use deltalake_core::arrow::compute::cast;
use deltalake_core::kernel::{Action, Remove};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake_core::parquet::file::properties::WriterProperties;
use deltalake_core::protocol::DeltaOperation;
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;

use crate::config::Validated;
use crate::error::{Error, Result};
use crate::table::{self, Fit};

/// A file that may be compacted.
struct Small {
    path: deltalake_core::Path,
    size: u64,
    partition: HashMap<String, Option<String>>,
    remove: Remove,
}

/// Groups of small files, one group per partition; files with deletion vectors are left.
async fn small_files(table: &DeltaTable, target: u64, url: &str) -> Result<Vec<Vec<Small>>> {
    let snapshot = table
        .snapshot()
        .map_err(|e| Error::delta("listing files", url, e))?;
    let log_store = table.log_store();
    let mut groups: BTreeMap<String, Vec<Small>> = BTreeMap::new();
    let mut views = snapshot.snapshot().file_views(log_store.as_ref(), None);
    while let Some(view) = views.next().await {
        let view = view.map_err(|e| Error::delta("listing files", url, e))?;
        let size = u64::try_from(view.size()).unwrap_or(u64::MAX);
        if size >= target || view.deletion_vector_descriptor().is_some() {
            continue;
        }
        let partition = view.partition_values_map();
        let mut key: Vec<String> = partition
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("\u{0}null")))
            .collect();
        key.sort();
        groups.entry(key.join("/")).or_default().push(Small {
            path: view.object_store_path(),
            size,
            partition,
            remove: view.remove_action(false),
        });
    }
    Ok(groups.into_values().collect())
}

/// Splits one partition's small files into bins of about `target` bytes; bins of a single
/// file are dropped (rewriting one file gains nothing).
fn bins(mut files: Vec<Small>, target: u64, min_files: usize) -> Vec<Vec<Small>> {
    if files.len() < min_files {
        return Vec::new();
    }
    files.sort_by(|a, b| a.path.as_ref().cmp(b.path.as_ref()));
    let mut out: Vec<Vec<Small>> = Vec::new();
    let mut bin: Vec<Small> = Vec::new();
    let mut bytes = 0u64;
    for f in files {
        if !bin.is_empty() && bytes + f.size > target {
            out.push(std::mem::take(&mut bin));
            bytes = 0;
        }
        bytes += f.size;
        bin.push(f);
    }
    out.push(bin);
    out.retain(|b| b.len() >= 2);
    out
}

/// The batch with the table's partition columns put back (data files do not hold them).
fn with_partitions(
    batch: &DBatch,
    partition: &HashMap<String, Option<String>>,
    schema: &deltalake_core::arrow::datatypes::SchemaRef,
) -> Result<DBatch> {
    let mut fields: Vec<deltalake_core::arrow::datatypes::FieldRef> =
        batch.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (name, value) in partition {
        let field = schema.field_with_name(name).map_err(|_| {
            Error::Batch(format!(
                "partition column `{name}` is not in the table's schema"
            ))
        })?;
        let text: ArrayRef = Arc::new(StringArray::from(vec![value.clone(); batch.num_rows()]));
        columns.push(cast(&text, field.data_type())?);
        fields.push(Arc::new(field.clone()));
    }
    let schema = Arc::new(deltalake_core::arrow::datatypes::Schema::new(fields));
    Ok(DBatch::try_new(schema, columns)?)
}

/// Compacts every partition's small files. Returns what it did, for the run summary.
///
/// # Errors
/// When a file cannot be read or written, or the commit conflicts with a concurrent
/// removal of the same files.
pub async fn optimize(
    table: &mut DeltaTable,
    cfg: &Validated,
    props: &WriterProperties,
    url: &str,
) -> Result<serde_json::Value> {
    table::refresh(table, url).await?;
    let target = cfg.optimize.target_file_bytes;
    let schema = table::arrow_schema(table, url)?;
    let store = table.log_store().object_store(None);
    let mut actions: Vec<Action> = Vec::new();
    let (mut removed, mut added, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64, 0u64);
    for group in small_files(table, target, url).await? {
        for bin in bins(group, target, cfg.optimize.min_files) {
            let mut writer = RecordBatchWriter::for_table(table)
                .map_err(|e| Error::delta("starting a writer", url, e))?
                .with_writer_properties(props.clone());
            for f in &bin {
                let bytes = store
                    .get(&f.path)
                    .await
                    .map_err(|e| Error::delta("reading a data file", url, e.into()))?
                    .bytes()
                    .await
                    .map_err(|e| Error::delta("reading a data file", url, e.into()))?;
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .and_then(|b| b.build())
                    .map_err(|e| Error::delta("reading a data file", url, e.into()))?;
                for batch in reader {
                    let batch = batch?;
                    let full = with_partitions(&batch, &f.partition, &schema)?;
                    match table::fit(&full, &schema, url)? {
                        Fit::Fits(b) => writer
                            .write(b)
                            .await
                            .map_err(|e| Error::delta("writing a compacted file", url, e))?,
                        Fit::NewColumns(new) => {
                            return Err(Error::Schema {
                                url: url.to_string(),
                                message: format!(
                                    "data file {} has columns the table does not ({}); leaving it",
                                    f.path,
                                    new.iter()
                                        .map(|f| f.name().as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            });
                        }
                    }
                }
                removed += 1;
                bytes_in += f.size;
            }
            for mut add in writer
                .flush()
                .await
                .map_err(|e| Error::delta("finishing a compacted file", url, e))?
            {
                add.data_change = false;
                added += 1;
                bytes_out += u64::try_from(add.size).unwrap_or(0);
                actions.push(Action::Add(add));
            }
            actions.extend(bin.into_iter().map(|f| Action::Remove(f.remove)));
        }
    }
    if actions.is_empty() {
        return Ok(serde_json::json!({"files_removed": 0, "files_added": 0}));
    }
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: i64::try_from(target).unwrap_or(i64::MAX),
    };
    let version = table::commit(
        table,
        actions,
        None,
        operation,
        HashMap::new(),
        cfg.commit_retries,
        url,
    )
    .await?;
    Ok(serde_json::json!({
        "files_removed": removed,
        "files_added": added,
        "bytes_before": bytes_in,
        "bytes_after": bytes_out,
        "delta_version": version,
    }))
}

/// Deletes files the table no longer references (removed by `optimize`, or written by a
/// window that was never committed) once older than the retention. Returns what it did.
///
/// # Errors
/// When the retention is shorter than the table allows (without `retention_hours`), or a
/// delete fails.
pub async fn vacuum(
    table: &mut DeltaTable,
    cfg: &Validated,
    url: &str,
) -> Result<serde_json::Value> {
    table::refresh(table, url).await?;
    let mut builder = table
        .clone()
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_dry_run(cfg.vacuum.dry_run);
    if let Some(h) = cfg.vacuum.retention_hours {
        // An explicit retention is the operator's decision, even below the table's default.
        builder = builder
            .with_retention_period(chrono::Duration::hours(
                i64::try_from(h).unwrap_or(i64::MAX),
            ))
            .with_enforce_retention_duration(false);
    }
    let (updated, metrics) = builder
        .await
        .map_err(|e| Error::delta("vacuuming", url, e))?;
    *table = updated;
    Ok(serde_json::json!({
        "dry_run": metrics.dry_run,
        "files": metrics.files_deleted.len(),
        "paths": metrics.files_deleted.iter().take(100).collect::<Vec<_>>(),
    }))
}
