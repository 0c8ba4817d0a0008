//! The delta-rs side: opening the table (local or S3), creating it from the first window's
//! schema, fitting batches to its schema, and committing a window with its transaction id.

use std::collections::HashMap;
use std::sync::Arc;

use delta_arrow_array::{self as da, Array as _};
use delta_arrow_schema::{Field as DField, Schema as DSchema, SchemaRef as DSchemaRef};
use delta_object_store::aws::AmazonS3Builder;
use deltalake_core::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, StructType, Transaction};
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use tributary_lake::Location;
use url::Url;

use crate::config::Validated;
use crate::error::{Error, Result};

/// The S3 log store: delta-rs' default one, which takes a table version with a conditional
/// PUT (`If-None-Match: *`). delta-rs' own S3 factory (the `deltalake-aws` crate) would add
/// DynamoDB locking for stores without conditional PUT; every store we target has it.
#[derive(Debug)]
struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn table_url(cfg: &Validated) -> Result<(Url, Option<ObjectStoreRef>)> {
    match &cfg.location {
        Location::Local { dir } => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Local {
                context: format!(
                    "creating the table directory `{}` (from `url`)",
                    dir.display()
                ),
                source,
            })?;
            let abs = std::fs::canonicalize(dir).map_err(|source| Error::Local {
                context: format!("resolving the table directory `{}`", dir.display()),
                source,
            })?;
            let url = Url::from_directory_path(&abs).map_err(|()| {
                Error::config(
                    "url",
                    format!("`{}` is not a usable directory", abs.display()),
                )
            })?;
            Ok((url, None))
        }
        Location::S3 { bucket, prefix } => {
            let b = tributary_lake::apply_s3!(
                AmazonS3Builder::from_env().with_bucket_name(bucket),
                &cfg.s3
            );
            let store = b.build().map_err(|source| Error::Store {
                url: cfg.url.clone(),
                source,
            })?;
            let url = Url::parse(&format!("s3://{bucket}/{prefix}"))
                .map_err(|e| Error::config("url", format!("{:?} is not a URL: {e}", cfg.url)))?;
            Ok((url, Some(Arc::new(store))))
        }
    }
}

/// The table at the configured location, not loaded yet.
///
/// # Errors
/// When the directory cannot be made or the S3 settings do not build a store.
pub fn open(cfg: &Validated) -> Result<DeltaTable> {
    let (url, store) = table_url(cfg)?;
    let mut builder = DeltaTableBuilder::from_url(url.clone())
        .map_err(|e| Error::delta("opening", &cfg.url, e))?;
    if let Some(store) = store {
        if let Ok(scheme) = Url::parse("s3://") {
            logstore_factories().insert(scheme, Arc::new(ConditionalPutLogStore));
        }
        builder = builder.with_storage_backend(store, url);
    }
    builder
        .build()
        .map_err(|e| Error::delta("opening", &cfg.url, e))
}

/// Loads the newest version; `false` when there is no table there yet.
///
/// # Errors
/// When the log cannot be read.
pub async fn load(table: &mut DeltaTable, url: &str) -> Result<bool> {
    match table.load().await {
        Ok(()) => Ok(true),
        Err(DeltaTableError::NotATable(_)) => Ok(false),
        Err(e) => Err(Error::delta("loading", url, e)),
    }
}

/// Creates the table with `schema` (every column nullable) and these partition columns.
/// When another writer (another shard) created it first, loads theirs.
///
/// # Errors
/// When a column type has no Delta equivalent, or the table can be neither created nor loaded.
pub async fn create(
    table: &mut DeltaTable,
    schema: &DSchema,
    partition_by: &[String],
    url: &str,
) -> Result<()> {
    let nullable: Vec<DField> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let kernel: StructType =
        (&DSchema::new(nullable))
            .try_into_kernel()
            .map_err(|e| Error::Schema {
                url: url.to_string(),
                message: format!("a column has a type Delta cannot store: {e}"),
            })?;
    let created = deltalake_core::operations::create::CreateBuilder::new()
        .with_log_store(table.log_store())
        .with_columns(kernel.fields().cloned())
        .with_partition_columns(partition_by.to_vec())
        .with_save_mode(SaveMode::Ignore)
        .await;
    // Two shards creating the table at once: one takes version 0, the other loads it. Either
    // way the table is read back from the log, so that a creation another writer overwrote (a
    // store whose conditional PUT is not atomic) leaves no stale schema or table id in memory.
    match created {
        Ok(_) => reload(table, url).await,
        Err(e) => {
            let mut t = DeltaTable::new(table.log_store());
            match load(&mut t, url).await {
                Ok(true) => {
                    *table = t;
                    Ok(())
                }
                _ => Err(Error::delta("creating", url, e)),
            }
        }
    }
}

/// Whether the log's commit `version` carries the transaction `app_id`: read from the store,
/// not from memory, so a commit another writer overwrote is seen as missing.
///
/// # Errors
/// When the commit cannot be read.
pub async fn commit_has(table: &DeltaTable, version: i64, app_id: &str, url: &str) -> Result<bool> {
    let v = u64::try_from(version).unwrap_or(0);
    let bytes = table
        .log_store()
        .read_commit_entry(v)
        .await
        .map_err(|e| Error::delta("reading back a commit", url, e))?;
    let needle = serde_json::to_string(app_id).unwrap_or_default();
    Ok(bytes.is_some_and(|b| {
        String::from_utf8_lossy(&b)
            .lines()
            .any(|l| l.contains("\"txn\"") && l.contains(&needle))
    }))
}

/// The table's schema as (delta-rs') Arrow.
///
/// # Errors
/// When the table is not loaded or its schema has no Arrow form.
pub fn arrow_schema(table: &DeltaTable, url: &str) -> Result<DSchemaRef> {
    let snapshot = table
        .snapshot()
        .map_err(|e| Error::delta("reading the schema", url, e))?;
    let schema: DSchema = snapshot
        .schema()
        .as_ref()
        .try_into_arrow()
        .map_err(|e| Error::delta("reading the schema", url, DeltaTableError::from(e)))?;
    Ok(Arc::new(schema))
}

/// The table's partition columns.
///
/// # Errors
/// When the table is not loaded.
pub fn partition_columns(table: &DeltaTable, url: &str) -> Result<Vec<String>> {
    Ok(table
        .snapshot()
        .map_err(|e| Error::delta("reading the partition columns", url, e))?
        .metadata()
        .partition_columns()
        .to_vec())
}

/// How a batch fits the table.
#[derive(Debug)]
pub enum Fit {
    /// It fits: the batch in the table's column order, missing nullable columns as nulls.
    Fits(da::RecordBatch),
    /// It has columns the table lacks (as nullable fields to add).
    NewColumns(Vec<DField>),
}

/// Fits `batch` to the table's `schema`, by column name.
///
/// # Errors
/// [`Error::Schema`] naming the column when a type differs or a non-nullable column is missing.
pub fn fit(batch: &da::RecordBatch, schema: &DSchemaRef, url: &str) -> Result<Fit> {
    let bs = batch.schema();
    let new: Vec<DField> = bs
        .fields()
        .iter()
        .filter(|f| schema.field_with_name(f.name()).is_err())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match bs.index_of(field.name()) {
            Ok(i) => {
                let have = bs.field(i).data_type();
                if have != field.data_type() {
                    return Err(Error::Schema {
                        url: url.to_string(),
                        message: format!(
                            "column `{}` is {} in the table but {} in this window; a Delta table \
                             cannot change a column's type: cast it upstream or land into a new table",
                            field.name(),
                            field.data_type(),
                            have
                        ),
                    });
                }
                columns.push(Arc::clone(batch.column(i)));
            }
            Err(_) if field.is_nullable() => {
                columns.push(da::new_null_array(field.data_type(), batch.num_rows()));
            }
            Err(_) => {
                return Err(Error::Schema {
                    url: url.to_string(),
                    message: format!(
                        "column `{}` is required (not nullable) in the table but missing from this window",
                        field.name()
                    ),
                });
            }
        }
    }
    if !new.is_empty() {
        return Ok(Fit::NewColumns(new));
    }
    let out = da::RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(|e| Error::Batch(format!("fitting a batch to the table's schema: {e}")))?;
    debug_assert_eq!(out.column(0).len(), batch.num_rows());
    Ok(Fit::Fits(out))
}

/// Adds `fields` (nullable) to the table's schema in a commit of its own.
///
/// # Errors
/// When the commit fails (for example a concurrent schema change).
pub async fn add_columns(table: &mut DeltaTable, fields: &[DField], url: &str) -> Result<()> {
    let kernel: StructType = (&DSchema::new(fields.to_vec()))
        .try_into_kernel()
        .map_err(|e| Error::Schema {
            url: url.to_string(),
            message: format!("a new column has a type Delta cannot store: {e}"),
        })?;
    let updated = table
        .clone()
        .add_columns()
        .with_fields(kernel.fields().cloned().collect::<Vec<_>>())
        .await
        .map_err(|e| Error::delta("adding columns", url, e))?;
    *table = updated;
    Ok(())
}

/// Reads the whole log afresh, forgetting what this process holds in memory.
///
/// # Errors
/// When the log cannot be read.
pub async fn reload(table: &mut DeltaTable, url: &str) -> Result<()> {
    let mut fresh = DeltaTable::new(table.log_store());
    load(&mut fresh, url).await?;
    *table = fresh;
    Ok(())
}

/// Reads the log up to its newest version.
///
/// # Errors
/// When the log cannot be read.
pub async fn refresh(table: &mut DeltaTable, url: &str) -> Result<()> {
    table
        .update_state()
        .await
        .map_err(|e| Error::delta("reading the log", url, e))
}

/// The version of the commit that recorded `app_id`, if one did.
///
/// # Errors
/// When the log cannot be read.
pub async fn committed(table: &mut DeltaTable, app_id: &str, url: &str) -> Result<Option<i64>> {
    refresh(table, url).await?;
    let snapshot = table
        .snapshot()
        .map_err(|e| Error::delta("reading the log", url, e))?;
    snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| Error::delta("reading the transaction ids", url, e))
}

/// One commit: `actions` with the application transaction `txn`, retried `retries` times
/// when another writer took the next version first. Returns the table version.
///
/// # Errors
/// When the commit conflicts beyond retrying or the store refuses it.
pub async fn commit(
    table: &mut DeltaTable,
    actions: Vec<Action>,
    txn: Option<Transaction>,
    operation: DeltaOperation,
    app_metadata: HashMap<String, serde_json::Value>,
    retries: usize,
    url: &str,
) -> Result<i64> {
    let mut props = CommitProperties::default()
        .with_metadata(app_metadata)
        .with_max_retries(retries);
    if let Some(txn) = txn {
        props = props.with_application_transaction(txn);
    }
    let snapshot = table
        .snapshot()
        .map_err(|e| Error::delta("committing", url, e))?;
    let finalized = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(|e| Error::delta("committing", url, e))?;
    let version = finalized.version();
    refresh(table, url).await?;
    i64::try_from(version)
        .map_err(|_| Error::Batch(format!("table version {version} is out of range")))
}
