//! Push-based CSV decoding of Data Extraction downloads: the header row names the
//! columns (all Utf8; quoted names, `""` escapes, a UTF-8 byte-order mark and padding
//! removed), then `arrow_csv`'s decoder takes the bytes as they arrive.

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
            let Some(nl) = self.head.iter().position(|b| *b == b'\n') else {
                if self.head.len() > MAX_HEADER_BYTES {
                    return Err(format!(
                        "the CSV header row is longer than {MAX_HEADER_BYTES} bytes: not a CSV download?"
                    ));
                }
                return Ok(out);
            };
            let line = String::from_utf8_lossy(self.head.get(..nl).unwrap_or_default())
                .trim_end_matches('\r')
                .to_string();
            let names = split_header(&line);
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
            let all = std::mem::take(&mut self.head);
            self.feed(&all, &mut out)?;
            return Ok(out);
        }
        self.feed(chunk, &mut out)?;
        Ok(out)
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
            let mut head = std::mem::take(&mut self.head);
            head.push(b'\n');
            out = self.push(&head)?;
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

/// Splits a CSV header line (quoted names with `""` escapes).
pub fn split_header(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_split_and_streamed_csv() {
        assert_eq!(
            split_header("\"ACD Call ID\",Start Date,\"a\"\"b\""),
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
}
