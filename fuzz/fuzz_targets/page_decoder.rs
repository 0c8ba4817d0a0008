//! Fuzzes the CXone page decoder with arbitrary bodies, as JSON pages and as CSV pages.
//! The first byte picks the decoder's shape (column subset, `keep_extra_fields`, small or
//! large pages, a next-page token for CSV); the rest is the body. Every body must give
//! `Ok(page)` or `Err(message)`, never a panic, and an `Ok` page must be consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_cxone::config::{CxoneConfig, INTERACTION_FIELDS as ALL};
use tributary_cxone::decode::PageDecoder;

fn decoder(mode: u8) -> PageDecoder {
    let mut cfg = CxoneConfig::new("r", "2023-01-01", "2023-01-02");
    cfg.keep_extra_fields = mode & 1 != 0;
    if mode & 2 != 0 {
        // A subset: every other column, in a rotated order.
        let start = usize::from(mode >> 4) % ALL.len();
        cfg.columns = (0..ALL.len())
            .step_by(2)
            .map(|i| ALL[(i + start) % ALL.len()].to_string())
            .collect();
    }
    if mode & 4 != 0 {
        cfg.page_size = 1;
    }
    PageDecoder::new(&cfg)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let dec = decoder(mode);
    let check = |page: &tributary_cxone::decode::Page| {
        let rows: usize = page.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(
            rows as u64, page.records,
            "records does not match the batches"
        );
        for b in &page.batches {
            assert_eq!(b.schema(), *dec.schema(), "a batch has another schema");
        }
    };
    if let Ok(page) = dec.decode_json(body) {
        check(&page);
    }
    let token = (mode & 8 != 0).then_some("next-token");
    if let Ok(page) = dec.decode_csv(body, token) {
        check(&page);
        assert_eq!(page.next_token.as_deref(), token, "the CSV token was lost");
    }
});
