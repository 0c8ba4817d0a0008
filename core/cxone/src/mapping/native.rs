//! The built-in native schemas of the real APIs: every field as NICE publishes it, typed
//! (integers Int64, booleans Boolean, times `Timestamp(ms, UTC)`, nested values JSON
//! text). Where each field comes from is tabled in `docs/cxone.md`.

use super::{FieldMapping, MappedType};

use MappedType::{Bool, Int64, Json, Timestamp, Utf8};

/// The Reporting API's `completedContacts[]` record (`GET /contacts/completed`), in the
/// order of NICE's published schema, with the names older API versions used.
pub const COMPLETED_CONTACT: &[(&str, MappedType, &[&str])] = &[
    ("abandoned", Bool, &[]),
    ("abandonSeconds", Int64, &["AbandonSeconds"]),
    ("acwSeconds", Int64, &["ACWSeconds"]),
    ("agentId", Int64, &["agentID"]),
    ("agentSeconds", Int64, &["AgentSeconds"]),
    ("analyticsProcessedDate", Timestamp, &[]),
    ("callbackTime", Int64, &[]),
    ("campaignId", Int64, &[]),
    ("campaignName", Utf8, &[]),
    ("conferenceSeconds", Int64, &["confSeconds"]),
    ("contactId", Int64, &["contactID"]),
    ("contactStartDate", Timestamp, &["contactStart"]),
    ("dateACWWarehoused", Timestamp, &[]),
    ("dateContactWarehoused", Timestamp, &[]),
    ("dispositionNotes", Utf8, &[]),
    ("divisionNo", Int64, &[]),
    ("endReason", Utf8, &[]),
    ("firstName", Utf8, &[]),
    ("fromAddress", Utf8, &["fromAddr"]),
    ("highProficiency", Int64, &[]),
    ("holdCount", Int64, &[]),
    ("holdSeconds", Int64, &["HoldSeconds"]),
    ("inQueueSeconds", Int64, &[]),
    ("isAnalyticsProcessed", Bool, &[]),
    ("isLogged", Bool, &[]),
    ("isOutbound", Bool, &[]),
    ("isRefused", Bool, &[]),
    ("isShortAbandon", Bool, &[]),
    ("isTakeover", Bool, &[]),
    ("lastName", Utf8, &[]),
    ("lastUpdateTime", Timestamp, &[]),
    ("lowProficiency", Int64, &[]),
    ("masterContactId", Int64, &["masterContactID"]),
    ("mediaSubTypeId", Int64, &[]),
    ("mediaSubTypeName", Utf8, &[]),
    ("mediaTypeId", Int64, &["mediaType"]),
    ("mediaTypeName", Utf8, &[]),
    ("pointOfContactId", Int64, &[]),
    ("pointOfContactName", Utf8, &[]),
    ("postQueueSeconds", Int64, &[]),
    ("preQueueSeconds", Int64, &[]),
    ("primaryDispositionId", Int64, &[]),
    ("refuseReason", Utf8, &[]),
    ("refuseTime", Timestamp, &[]),
    ("releaseSeconds", Int64, &[]),
    ("routingAttribute", Int64, &[]),
    ("routingTime", Int64, &[]),
    ("secondaryDispositionId", Int64, &[]),
    ("serviceLevelFlag", Int64, &[]),
    ("skillId", Int64, &["skillID"]),
    ("skillName", Utf8, &[]),
    ("tags", Json, &[]),
    ("teamId", Int64, &["teamID"]),
    ("teamName", Utf8, &[]),
    ("toAddress", Utf8, &["toAddr"]),
    ("totalDurationSeconds", Int64, &[]),
    ("transferIndicatorId", Int64, &[]),
    ("transferIndicatorName", Utf8, &[]),
];

/// The Reporting API's key of a record (ties of `lastUpdateTime` are ordered by it).
pub const CONTACT_KEY: &str = "contactId";
/// The Reporting API's update time, the incremental cursor.
pub const CONTACT_UPDATED: &str = "lastUpdateTime";
/// The Reporting API's start time (windows and partitions).
pub const CONTACT_START: &str = "contactStartDate";

/// A table of `(column, type, older names)` as a mapping (the column is also the
/// current wire name).
pub fn mapping_of(table: &[(&str, MappedType, &[&str])]) -> Vec<FieldMapping> {
    table
        .iter()
        .map(|(name, ty, old)| {
            let mut from = vec![*name];
            from.extend_from_slice(old);
            FieldMapping::new(&from, name, *ty)
        })
        .collect()
}

/// The native mapping of the Reporting API's completed contacts.
pub fn completed_contacts() -> Vec<FieldMapping> {
    mapping_of(COMPLETED_CONTACT)
}

/// The Data Extraction API's `recording-interaction-metadata` CSV: the headers public
/// callers read by name (NICE publishes no complete list; other headers go to `_extra`
/// or are counted). Columns are the headers in camelCase.
pub const RECORDING_METADATA: &[(&str, MappedType, &[&str])] = &[
    ("acdCallId", Int64, &["ACD Call ID"]),
    ("segmentId", Utf8, &["Segment ID"]),
    ("startDate", Timestamp, &["Start Date"]),
    ("agent1AcdId", Int64, &["Agent 1 ACD ID"]),
    ("agent1Name", Utf8, &["Agent 1 Name"]),
    ("agent1Skills", Utf8, &["Agent 1 Skills"]),
    ("agent1Team", Utf8, &["Agent 1 Team"]),
    ("agent1ContactNumber", Int64, &["Agent 1 Contact Number"]),
    ("ani", Utf8, &["ANI"]),
    ("dnis", Utf8, &["DNIS"]),
    ("disposition", Utf8, &["Disposition"]),
    ("voiceRecordingStatus", Utf8, &["Voice Recording Status"]),
];

/// The extraction entity whose native mapping is built in.
pub const RECORDING_METADATA_ENTITY: &str = "recording-interaction-metadata";

/// The native mapping of an extraction entity: the column name is a header's camelCase,
/// read from the display name (and the camelCase itself).
pub fn extraction(entity: &str) -> Option<Vec<FieldMapping>> {
    (entity == RECORDING_METADATA_ENTITY).then(|| mapping_of(RECORDING_METADATA))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::MappedDecoder;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMillisecondType};
    use arrow_array::{Array, RecordBatch};

    const V26: &str = include_str!("../../../../tests/data/cxone/completed-contacts-v26.json");
    const V21: &str =
        include_str!("../../../../tests/data/cxone/completed-contacts-v21-strings.json");

    fn decode(body: &str, keep_extra: bool) -> (RecordBatch, crate::mapping::MappedPage) {
        let mut p = MappedDecoder::new(completed_contacts(), keep_extra)
            .decode_json(body.as_bytes(), "completedContacts")
            .unwrap();
        (p.batch.take().unwrap(), p)
    }

    #[test]
    fn the_published_record_decodes_field_for_field() {
        let (b, page) = decode(V26, false);
        assert_eq!(b.num_columns(), 58);
        assert_eq!(
            (page.records, page.extra_fields, page.bad_values),
            (2, 0, 0)
        );
        assert_eq!(
            (page.total_records, page.next_link.clone()),
            (Some(2), Some(None))
        );
        // Every field of the first record has a value, except the empty-string time.
        let schema = b.schema();
        let nulls: Vec<&str> = schema
            .fields()
            .iter()
            .zip(b.columns())
            .filter(|(_, c)| c.is_null(0))
            .map(|(f, _)| f.name().as_str())
            .collect();
        assert_eq!(nulls, ["refuseTime"]);
        let int = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0)
        };
        let time = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .value(0)
        };
        assert_eq!(int("contactId"), 2_789_879_875);
        assert_eq!(int("totalDurationSeconds"), 295);
        assert_eq!(time("contactStartDate"), 1_473_784_171_443);
        assert_eq!(time("lastUpdateTime"), 1_473_784_465_990);
        assert!(
            !b.column_by_name("isOutbound")
                .unwrap()
                .as_boolean()
                .value(0)
        );
        assert_eq!(
            b.column_by_name("tags")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            r#"[{"tagId":7,"tagName":"vip"},{"tagId":12,"tagName":"callback"}]"#
        );
        // The sparse second record: absent fields are null, present ones typed.
        assert!(b.column_by_name("agentId").unwrap().is_null(1));
        assert!(b.column_by_name("abandoned").unwrap().as_boolean().value(1));
    }

    #[test]
    fn old_names_and_strings_land_in_the_same_typed_columns() {
        let (new, _) = decode(V26, false);
        let (old, page) = decode(V21, true);
        assert_eq!((page.total_records, page.bad_values), (Some(1), 0));
        assert_eq!(page.extra_fields, 3, "state, stateId, isActive");
        for c in [
            "contactId",
            "contactStartDate",
            "lastUpdateTime",
            "acwSeconds",
            "conferenceSeconds",
            "fromAddress",
            "toAddress",
            "mediaTypeId",
            "isOutbound",
            "isLogged",
            "totalDurationSeconds",
        ] {
            let a = new.column_by_name(c).unwrap().slice(0, 1);
            let b = old.column_by_name(c).unwrap().slice(0, 1);
            assert_eq!(a.to_data(), b.to_data(), "{c}");
        }
        let extra = old.column_by_name("_extra").unwrap().as_string::<i32>();
        assert_eq!(
            extra.value(0),
            r#"{"state":"EndContact","stateId":"18","isActive":"False"}"#
        );
    }
}
