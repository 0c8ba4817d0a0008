//! Push-based CSV decoding of Data Extraction downloads: the header row names the
//! columns (all Utf8; read by the `csv` crate, so quoted names may hold commas, `""`
//! escapes and line breaks; a UTF-8 byte-order mark and padding removed), then
//! `arrow_csv`'s decoder takes the bytes as they arrive.

/// Longest header row accepted (a body without a newline must not grow memory).
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Push-based CSV decoding: the header row names the columns (all Utf8), then
/// `arrow_csv`'s decoder takes the bytes as they arrive.
#[derive(Default)]
pub struct CsvStream {
    head: Vec<u8>,
    decoder: Option<arrow_csv::reader::Decoder>,
}

impl CsvStream {
    /// Takes the next bytes; returns the batches completed by them.
    ///
    /// # Errors
    /// Malformed CSV (a row with another number of fields than the header).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<arrow_array::RecordBatch>, String> {
        let mut out = Vec::new();
        if self.decoder.is_none() {
            self.head.extend_from_slice(chunk);
            let Some(names) = complete_header(&self.head)? else {
                if self.head.len() > MAX_HEADER_BYTES {
                    return Err(format!(
                        "the CSV header row is longer than {MAX_HEADER_BYTES} bytes: not a CSV download?"
                    ));
                }
                return Ok(out);
            };
            self.start(&names);
            let all = std::mem::take(&mut self.head);
            self.feed(&all, &mut out)?;
            return Ok(out);
        }
        self.feed(chunk, &mut out)?;
        Ok(out)
    }

    /// Starts the decoder for the columns `names` (all Utf8); it skips the header row itself.
    fn start(&mut self, names: &[String]) {
        let schema = std::sync::Arc::new(arrow_schema::Schema::new(
            names
                .iter()
                .map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let d = arrow_csv::ReaderBuilder::new(schema)
            .with_header(true)
            .with_batch_size(8192)
            .build_decoder();
        self.decoder = Some(d);
    }

    fn feed(
        &mut self,
        mut buf: &[u8],
        out: &mut Vec<arrow_array::RecordBatch>,
    ) -> Result<(), String> {
        let Some(d) = self.decoder.as_mut() else {
            return Ok(());
        };
        while !buf.is_empty() {
            let n = d.decode(buf).map_err(|e| e.to_string())?;
            buf = buf.get(n..).unwrap_or_default();
            if d.capacity() == 0 || n == 0 {
                match d.flush().map_err(|e| e.to_string())? {
                    Some(b) => out.push(b),
                    None if n == 0 => return Err("the CSV decoder made no progress".into()),
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// Ends the input; returns the last batches.
    ///
    /// # Errors
    /// As [`CsvStream::push`].
    pub fn finish(&mut self) -> Result<Vec<arrow_array::RecordBatch>, String> {
        let mut out = Vec::new();
        if self.decoder.is_none() {
            if self.head.is_empty() {
                return Ok(out);
            }
            // The input ends inside the header row: it is the whole header.
            let names = parse_header(&self.head)?;
            self.start(&names);
            let mut all = std::mem::take(&mut self.head);
            if !all.ends_with(b"\n") {
                all.push(b'\n');
            }
            self.feed(&all, &mut out)?;
        }
        if let Some(d) = self.decoder.as_mut() {
            d.decode(&[]).map_err(|e| e.to_string())?;
            if let Some(b) = d.flush().map_err(|e| e.to_string())? {
                out.push(b);
            }
        }
        Ok(out)
    }
}

/// The column names of the header row at the start of `head` once that row is complete
/// (its terminator read, so a quoted name may hold a line break), else `None`.
///
/// # Errors
/// The header row is not valid CSV.
fn complete_header(head: &[u8]) -> Result<Option<Vec<String>>, String> {
    // A row ends at a line break: none yet, no complete header.
    if !head.contains(&b'\n') && !head.contains(&b'\r') {
        return Ok(None);
    }
    let mut reader = header_reader(head);
    let mut record = csv::ByteRecord::new();
    reader
        .read_byte_record(&mut record)
        .map_err(|e| format!("cannot read the CSV header row: {e}"))?;
    // The parser stopped before the end of the bytes: it read the row's terminator
    // (at the end it may still be inside a quoted name, or before a `\n` after `\r`).
    if usize::try_from(reader.position().byte()).unwrap_or(usize::MAX) >= head.len() {
        return Ok(None);
    }
    Ok(Some(names(&record)))
}

/// The column names of a header row (the whole input, terminated or not).
///
/// # Errors
/// The header row is not valid CSV.
pub fn parse_header(row: &[u8]) -> Result<Vec<String>, String> {
    let mut record = csv::ByteRecord::new();
    header_reader(row)
        .read_byte_record(&mut record)
        .map_err(|e| format!("cannot read the CSV header row: {e}"))?;
    Ok(names(&record))
}

fn header_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Names as text (invalid UTF-8 replaced), padding and a byte-order mark removed.
fn names(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_split_and_streamed_csv() {
        assert_eq!(
            parse_header(b"\"ACD Call ID\",Start Date,\"a\"\"b\"").unwrap(),
            vec!["ACD Call ID", "Start Date", "a\"b"]
        );
        let mut s = CsvStream::default();
        let mut rows = 0;
        for chunk in [&b"A,B\r\n1,"[..], b"x\r\n2,y\r\n", b"3,z"] {
            rows += s
                .push(chunk)
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>();
        }
        rows += s
            .finish()
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
        assert_eq!(rows, 3);
    }

    fn names_and_rows(chunks: &[&[u8]]) -> (Vec<String>, usize) {
        let mut s = CsvStream::default();
        let mut batches = Vec::new();
        for c in chunks {
            batches.extend(s.push(c).unwrap());
        }
        batches.extend(s.finish().unwrap());
        let names = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        (names, batches.iter().map(|b| b.num_rows()).sum())
    }

    #[test]
    fn quoted_header_names_with_commas_quotes_and_line_breaks() {
        // A comma and an escaped quote inside quotes, a quote inside an unquoted name (kept
        // as is, where the hand-rolled split dropped it), and a line break inside a quoted
        // name arriving in another chunk (the hand-rolled split cut the row there).
        let (names, rows) = names_and_rows(&[
            b"\xEF\xBB\xBF\"Agent, \"\"Skill\"\"\", 5\" x,\"multi",
            b"\nline\"\r\n1,2,3\r\n",
            b"4,5,6",
        ]);
        assert_eq!(names, vec!["Agent, \"Skill\"", "5\" x", "multi\nline"]);
        assert_eq!(rows, 2);
        assert_eq!(
            parse_header(b"\"a,b\" ,c\"d,\"e\"\"f\"").unwrap(),
            vec!["a,b", "c\"d", "e\"f"]
        );
        // The header alone, without a line break, is a header without rows.
        let (names, rows) = names_and_rows(&[b"A,\"B", b",C\""]);
        assert_eq!((names, rows), (vec![], 0));
        let mut s = CsvStream::default();
        assert!(s.push(b"A,\"B").unwrap().is_empty());
        assert!(s.finish().unwrap().is_empty());
        assert!(s.decoder.is_some());
    }
}
