//! Fuzzes the real dialects' decoding: Reporting pages through `MappedDecoder` (native
//! completed contacts, then the keyset filter and the interaction projection), and Data
//! Extraction downloads through the CSV stream (header splitting included) and the
//! native `recording-interaction-metadata` mapping. The first byte picks the mode
//! (`keep_extra_fields`, JSON or CSV, the chunk size of the CSV stream); every input
//! must give a result or an error, never a panic, and a decoded batch must be consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_cxone::mapping::csv::{CsvStream, split_header};
use tributary_cxone::mapping::{MappedDecoder, native, project};

fn json(mode: u8, body: &[u8]) {
    let dec = MappedDecoder::new(native::completed_contacts(), mode & 1 != 0);
    let Ok(page) = dec.decode_json(body, "completedContacts") else {
        return;
    };
    let Some(b) = page.batch else {
        assert_eq!(page.records, 0, "records without a batch");
        return;
    };
    assert_eq!(b.num_rows() as u64, page.records, "records does not match the batch");
    assert_eq!(b.schema(), *dec.schema(), "the batch has another schema");
    let p = project::FROM_COMPLETED_CONTACTS;
    let out = project::apply(p, &project::schema(p), &b);
    if let Ok(out) = out {
        assert_eq!(out.num_rows(), b.num_rows(), "the projection changed the row count");
    }
}

fn csv(mode: u8, body: &[u8]) {
    let dec = MappedDecoder::new(
        native::extraction(native::RECORDING_METADATA_ENTITY).unwrap_or_default(),
        mode & 1 != 0,
    );
    if let Some(line) = body.split(|b| *b == b'\n').next() {
        let names = split_header(&String::from_utf8_lossy(line));
        assert!(!names.is_empty(), "a header line has at least one name");
    }
    let chunk = 1 + usize::from(mode >> 4) * 7;
    let mut s = CsvStream::default();
    let mut raw = Vec::new();
    for c in body.chunks(chunk) {
        match s.push(c) {
            Ok(b) => raw.extend(b),
            Err(_) => return,
        }
    }
    match s.finish() {
        Ok(b) => raw.extend(b),
        Err(_) => return,
    }
    for r in raw {
        if let Ok(page) = dec.map_csv(&r) {
            assert_eq!(page.records, r.num_rows() as u64, "rows lost in mapping");
            if let Some(b) = page.batch {
                assert_eq!(b.schema(), *dec.schema(), "the batch has another schema");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if mode & 2 == 0 {
        json(mode, body);
    } else {
        csv(mode, body);
    }
});
