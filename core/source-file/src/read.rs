//! Reading one file into batches, by format. Everything here blocks: the source runs it
//! on a blocking thread.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::config::{FileConfig, FileFormat};

/// Rows read to infer a JSON or CSV file's types.
const INFER_ROWS: usize = 10_000;

/// An iterator of batches.
type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("cannot open `{}`: {e}", path.display()))
}

fn err(path: &Path) -> impl Fn(String) -> String + '_ {
    move |e| format!("`{}`: {e}", path.display())
}

/// The file's batches and their schema.
///
/// # Errors
/// When the file cannot be opened or is not of its format, naming the file.
pub fn batches(
    path: &Path,
    format: FileFormat,
    cfg: &FileConfig,
) -> Result<(SchemaRef, Batches), String> {
    let e = err(path);
    let file = open(path)?;
    match format {
        FileFormat::Parquet => {
            let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|x| e(format!("not a readable Parquet file: {x}")))?
                .with_batch_size(cfg.batch_size);
            let schema = Arc::clone(b.schema());
            let reader = b.build().map_err(|x| e(x.to_string()))?;
            Ok((schema, Box::new(reader)))
        }
        FileFormat::Arrow => match arrow_ipc::reader::FileReader::try_new(file, None) {
            Ok(r) => Ok((r.schema(), Box::new(r))),
            Err(_) => {
                let stream =
                    arrow_ipc::reader::StreamReader::try_new(BufReader::new(open(path)?), None)
                        .map_err(|x| e(format!("not an Arrow IPC file or stream: {x}")))?;
                Ok((stream.schema(), Box::new(stream)))
            }
        },
        FileFormat::Json => {
            let mut reader = BufReader::new(file);
            let (inferred, _) =
                arrow_json::reader::infer_json_schema_from_seekable(&mut reader, Some(INFER_ROWS))
                    .map_err(|x| e(format!("not JSON lines: {x}")))?;
            let schema = with_timestamps(inferred, &cfg.timestamps).map_err(&e)?;
            let r = arrow_json::ReaderBuilder::new(Arc::clone(&schema))
                .with_batch_size(cfg.batch_size)
                .build(reader)
                .map_err(|x| e(x.to_string()))?;
            Ok((schema, Box::new(r)))
        }
        FileFormat::Csv => {
            let mut file = file;
            let format = arrow_csv::reader::Format::default().with_header(true);
            let (inferred, _) = format
                .infer_schema(&mut file, Some(INFER_ROWS))
                .map_err(|x| e(format!("not CSV with a header line: {x}")))?;
            file.rewind().map_err(|x| e(x.to_string()))?;
            let schema = with_timestamps(inferred, &cfg.timestamps).map_err(&e)?;
            let r = arrow_csv::ReaderBuilder::new(Arc::clone(&schema))
                .with_format(format)
                .with_batch_size(cfg.batch_size)
                .build(file)
                .map_err(|x| e(x.to_string()))?;
            Ok((schema, Box::new(r)))
        }
    }
}

/// The inferred schema with the named columns as UTC millisecond timestamps.
fn with_timestamps(inferred: Schema, names: &[String]) -> Result<SchemaRef, String> {
    for n in names {
        if inferred.field_with_name(n).is_err() {
            return Err(format!(
                "`timestamps` names `{n}`, which the file does not have (it has: {})",
                inferred
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match names.iter().any(|n| n == f.name()) {
            true => Field::new(
                f.name(),
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            false => f.as_ref().clone(),
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn cfg(timestamps: &[&str]) -> FileConfig {
        FileConfig {
            path: String::new(),
            format: None,
            batch_size: 2,
            timestamps: timestamps.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn json_lines_are_typed_and_timestamps_parsed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(
            &p,
            "{\"id\":1,\"ok\":true,\"t\":\"2023-01-01T10:00:00.250Z\"}\n{\"id\":2,\"ok\":false,\"t\":null}\n{\"id\":3,\"ok\":true,\"t\":\"2023-01-02T00:00:00Z\"}\n",
        )
        .unwrap();
        let (schema, it) = batches(&p, FileFormat::Json, &cfg(&["t"])).unwrap();
        assert_eq!(
            schema.field_with_name("id").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(
            schema.field_with_name("ok").unwrap().data_type(),
            &DataType::Boolean
        );
        let all: Vec<RecordBatch> = it.collect::<Result<_, _>>().unwrap();
        assert_eq!(all.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        let t = all[0]
            .column_by_name("t")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(t.value(0), 1_672_567_200_250);
        assert!(t.is_null(1));
    }

    #[test]
    fn csv_with_an_unknown_timestamp_column_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        std::fs::write(&p, "id,name\n1,x\n").unwrap();
        let e = batches(&p, FileFormat::Csv, &cfg(&["when"])).err().unwrap();
        assert!(
            e.contains("a.csv") && e.contains("`when`") && e.contains("id, name"),
            "{e}"
        );
    }

    #[test]
    fn a_file_of_another_format_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.parquet");
        std::fs::write(&p, b"not parquet").unwrap();
        let e = batches(&p, FileFormat::Parquet, &cfg(&[])).err().unwrap();
        assert!(e.contains("x.parquet") && e.contains("Parquet"), "{e}");
    }
}
