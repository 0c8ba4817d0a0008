//! What a contact is made of in the real dialects: the 58 fields of NICE's published
//! `completedContacts[]` record (names and types from the published Reporting schema
//! and its public callers; `docs/cxone.md` gives the sources), and the names the
//! Reporting API and the Data Extraction CSV share (skill, team, agent, addresses,
//! disposition), all a pure function of the generated record and the seed.

use serde_json::{Map, Value};

use crate::config::SimConfig;
use crate::data::{RawRecord, Record, format_ts, hash_bytes, hash_words, media_type_of, mix};

/// The fields of a completed-contact record, as current API versions name them, in the
/// order they are served. There is no end time: an end is `contactStartDate +
/// totalDurationSeconds`.
pub const COMPLETED_CONTACT_FIELDS: [&str; 58] = [
    "abandoned",
    "abandonSeconds",
    "acwSeconds",
    "agentId",
    "agentSeconds",
    "analyticsProcessedDate",
    "callbackTime",
    "campaignId",
    "campaignName",
    "conferenceSeconds",
    "contactId",
    "contactStartDate",
    "dateACWWarehoused",
    "dateContactWarehoused",
    "dispositionNotes",
    "divisionNo",
    "endReason",
    "firstName",
    "fromAddress",
    "highProficiency",
    "holdCount",
    "holdSeconds",
    "inQueueSeconds",
    "isAnalyticsProcessed",
    "isLogged",
    "isOutbound",
    "isRefused",
    "isShortAbandon",
    "isTakeover",
    "lastName",
    "lastUpdateTime",
    "lowProficiency",
    "masterContactId",
    "mediaSubTypeId",
    "mediaSubTypeName",
    "mediaTypeId",
    "mediaTypeName",
    "pointOfContactId",
    "pointOfContactName",
    "postQueueSeconds",
    "preQueueSeconds",
    "primaryDispositionId",
    "refuseReason",
    "refuseTime",
    "releaseSeconds",
    "routingAttribute",
    "routingTime",
    "secondaryDispositionId",
    "serviceLevelFlag",
    "skillId",
    "skillName",
    "tags",
    "teamId",
    "teamName",
    "toAddress",
    "totalDurationSeconds",
    "transferIndicatorId",
    "transferIndicatorName",
];

/// The name old API versions (below v13, or `legacy_field_names`) serve for `name`.
pub(crate) fn legacy_name(name: &'static str) -> &'static str {
    match name {
        "contactStartDate" => "contactStart",
        "acwSeconds" => "ACWSeconds",
        "conferenceSeconds" => "confSeconds",
        "fromAddress" => "fromAddr",
        "toAddress" => "toAddr",
        "mediaTypeId" => "mediaType",
        other => other,
    }
}

/// The numeric `contactId` (= `masterContactId`, = the extraction CSV's `ACD Call ID`)
/// the real dialects serve for `rec`: its id read as a decimal number.
pub fn contact_id_of(rec: &Record) -> i64 {
    digits_value(rec.id.as_bytes())
}

fn digits_value(id: &[u8]) -> i64 {
    id.iter().fold(0i64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(b.saturating_sub(b'0')))
    })
}

/// The numeric contact id of a raw record.
pub(crate) fn contact_id(r: &RawRecord) -> i64 {
    digits_value(&r.id_bytes())
}

/// The per-record hash every derived attribute is drawn from.
pub(crate) fn attr_hash(cfg: &SimConfig, id: &[u8]) -> u64 {
    hash_words(&[cfg.seed, 0xC0_47AC, hash_bytes(id)])
}

const SKILL_BASES: [&str; 8] = [
    "Sales",
    "Support",
    "Billing",
    "Retention",
    "Technical",
    "Claims",
    "Orders",
    "Returns",
];

/// `skillName` (and the extraction CSV's `Agent 1 Skills`) of skill `queue`.
pub(crate) fn skill_name(queue: u32) -> String {
    let base = SKILL_BASES
        .get(queue as usize % SKILL_BASES.len())
        .copied()
        .unwrap_or("Skill");
    format!("{base} {queue:02}")
}

/// `teamId` of an agent.
pub(crate) fn team_id(agent: u32) -> u32 {
    agent / 25 + 1
}

/// `teamName` (and `Agent 1 Team`) of a team.
pub(crate) fn team_name(team: u32) -> String {
    format!("Team {team:02}")
}

/// `firstName` and `lastName` of an agent (`Agent 1 Name` is both, space-separated).
pub(crate) fn agent_names(agent: u32) -> (&'static str, String) {
    ("Agent", format!("{agent:04}"))
}

/// The customer's address: a phone number, or an e-mail address for e-mail contacts.
fn customer_address(r: &RawRecord, h: u64) -> String {
    if r.medium == "email" {
        format!("customer{:07}@example.com", mix(h ^ 0xE) % 10_000_000)
    } else {
        format!("+1555{:07}", hash_bytes(&r.id_bytes()) % 10_000_000)
    }
}

/// The contact centre's address (point of contact) of the record's skill.
fn centre_address(r: &RawRecord) -> String {
    if r.medium == "email" {
        format!("skill{:03}@support.example.com", r.queue)
    } else {
        format!("+1800555{:04}", r.queue)
    }
}

/// (`fromAddress`, `toAddress`), i.e. the extraction CSV's (`ANI`, `DNIS`).
pub(crate) fn addresses(r: &RawRecord, h: u64) -> (String, String) {
    let (customer, centre) = (customer_address(r, h), centre_address(r));
    if r.direction == "outbound" {
        (centre, customer)
    } else {
        (customer, centre)
    }
}

const DISPOSITIONS: [(i64, &str); 5] = [
    (93, "Resolved"),
    (94, "Callback Requested"),
    (95, "Escalated, supervisor"),
    (96, "Sale"),
    (97, "Information Only"),
];

/// (`primaryDispositionId`, its name: the extraction CSV's `Disposition`).
pub(crate) fn disposition(h: u64) -> (i64, &'static str) {
    DISPOSITIONS
        .get((mix(h ^ 0xD15) % DISPOSITIONS.len() as u64) as usize)
        .copied()
        .unwrap_or((93, "Resolved"))
}

const CAMPAIGNS: [&str; 5] = [
    "Main Campaign",
    "Inbound Support",
    "Outbound Sales",
    "Billing",
    "Retention",
];

const TAGS: [(i64, &str); 4] = [
    (101, "VIP"),
    (102, "Complaint"),
    (103, "Follow-up"),
    (104, "Survey"),
];

/// Most records have no tag; about 15 % have one, 5 % two.
fn tags_of(h: u64) -> Vec<(i64, &'static str)> {
    let t = mix(h ^ 0x7A6);
    let n = match t % 20 {
        0 => 2,
        1..=3 => 1,
        _ => 0,
    };
    (0..n)
        .filter_map(|k| TAGS.get(((t >> 8) as usize + k) % TAGS.len()).copied())
        .collect()
}

/// (`mediaSubTypeId`, `mediaSubTypeName`); voice and e-mail have none (0, "").
fn media_sub_type(medium: &str) -> (i64, &'static str) {
    match medium {
        "chat" => (1, "Chat"),
        "sms" => (2, "SMS"),
        "social" => (3, "Facebook Messenger"),
        _ => (0, ""),
    }
}

fn end_reason(r: &RawRecord, h: u64) -> &'static str {
    let agent_ended = mix(h ^ 0xE2D) % 3 == 0;
    match (r.medium, agent_ended) {
        ("voice", false) => "Contact Hung Up",
        ("voice", true) => "Agent Hung Up",
        (_, false) => "Contact Closed",
        (_, true) => "Agent Closed",
    }
}

/// A value of the record, before it is written in the response's style.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Int(i64),
    Bool(bool),
    Ts(i64),
    Str(String),
    Tags(Vec<(i64, &'static str)>),
}

/// Queue and routing figures: (preQueueSeconds, inQueueSeconds, routingTime ms).
fn queue_times(r: &RawRecord, h: u64) -> (i64, i64, i64) {
    if r.direction == "outbound" {
        return (0, 0, 0);
    }
    let pre = if r.medium == "voice" {
        2 + (mix(h ^ 0x9E) % 8) as i64
    } else {
        0
    };
    let in_queue = (mix(h ^ 0x1C) % 120) as i64;
    (
        pre,
        in_queue,
        in_queue * 1000 + (mix(h ^ 0x27) % 1000) as i64,
    )
}

/// The warehouse timestamps: (dateContactWarehoused, dateACWWarehoused,
/// analyticsProcessedDate), each a little after the one before, after lastUpdateTime.
fn warehouse_times(lut: i64, h: u64) -> (i64, i64, i64) {
    let contact = lut + 5_000 + (mix(h ^ 0xDC) % 55_000) as i64;
    let acw = contact + 60_000 + (mix(h ^ 0xDA) % 240_000) as i64;
    let analytics = acw + 60_000 + (mix(h ^ 0xA9) % 600_000) as i64;
    (contact, acw, analytics)
}

/// The 58 fields of the completed contact `r` whose `lastUpdateTime` is `lut`, under
/// their current names, in [`COMPLETED_CONTACT_FIELDS`] order.
pub(crate) fn contact_cells(cfg: &SimConfig, r: &RawRecord, lut: i64) -> Vec<(&'static str, Cell)> {
    use Cell::{Bool, Int, Str, Tags, Ts};
    let h = attr_hash(cfg, &r.id_bytes());
    let id = contact_id(r);
    let (media_id, media_name) = media_type_of(r.medium);
    let (sub_id, sub_name) = media_sub_type(r.medium);
    let (from, to) = addresses(r, h);
    let (first, last) = agent_names(r.agent);
    let (dispo_id, _) = disposition(h);
    let (pre_queue, in_queue, routing_ms) = queue_times(r, h);
    let (wh_contact, wh_acw, analytics) = warehouse_times(lut, h);
    let team = team_id(r.agent);
    let campaign = (r.queue as usize) % CAMPAIGNS.len();
    let outbound = r.direction == "outbound";
    let high = 1 + (mix(h ^ 0x41) % 5) as i64;
    let notes = if mix(h ^ 0x40) % 4 == 0 {
        "Call went well.  Will followup in 7 days."
    } else {
        ""
    };
    vec![
        ("abandoned", Bool(false)),
        ("abandonSeconds", Int(0)),
        ("acwSeconds", Int(i64::from(r.wrap))),
        ("agentId", Int(i64::from(r.agent))),
        ("agentSeconds", Int(i64::from(r.talk))),
        ("analyticsProcessedDate", Ts(analytics)),
        ("callbackTime", Int(0)),
        ("campaignId", Int(100 + campaign as i64)),
        (
            "campaignName",
            Str(CAMPAIGNS.get(campaign).copied().unwrap_or("").into()),
        ),
        ("conferenceSeconds", Int(0)),
        ("contactId", Int(id)),
        ("contactStartDate", Ts(r.start_ms)),
        ("dateACWWarehoused", Ts(wh_acw)),
        ("dateContactWarehoused", Ts(wh_contact)),
        ("dispositionNotes", Str(notes.into())),
        ("divisionNo", Int(0)),
        ("endReason", Str(end_reason(r, h).into())),
        ("firstName", Str(first.into())),
        ("fromAddress", Str(from)),
        ("highProficiency", Int(high)),
        ("holdCount", Int(i64::from(r.hold > 0))),
        ("holdSeconds", Int(i64::from(r.hold))),
        ("inQueueSeconds", Int(in_queue)),
        ("isAnalyticsProcessed", Bool(true)),
        ("isLogged", Bool(r.medium == "voice")),
        ("isOutbound", Bool(outbound)),
        ("isRefused", Bool(false)),
        ("isShortAbandon", Bool(false)),
        ("isTakeover", Bool(false)),
        ("lastName", Str(last)),
        ("lastUpdateTime", Ts(lut)),
        ("lowProficiency", Int(high + 10)),
        ("masterContactId", Int(id)),
        ("mediaSubTypeId", Int(sub_id)),
        ("mediaSubTypeName", Str(sub_name.into())),
        ("mediaTypeId", Int(i64::from(media_id))),
        ("mediaTypeName", Str(media_name.into())),
        (
            "pointOfContactId",
            Int(3_189_000 + i64::from(r.queue) * 10 + i64::from(media_id)),
        ),
        (
            "pointOfContactName",
            Str(format!("{} {media_name}", skill_name(r.queue))),
        ),
        ("postQueueSeconds", Int(0)),
        ("preQueueSeconds", Int(pre_queue)),
        ("primaryDispositionId", Int(dispo_id)),
        ("refuseReason", Str(String::new())),
        ("refuseTime", Str(String::new())),
        ("releaseSeconds", Int(0)),
        ("routingAttribute", Int(0)),
        ("routingTime", Int(routing_ms)),
        ("secondaryDispositionId", Int(0)),
        (
            "serviceLevelFlag",
            Int(i64::from(!outbound && in_queue <= 30)),
        ),
        ("skillId", Int(i64::from(r.queue))),
        ("skillName", Str(skill_name(r.queue))),
        ("tags", Tags(tags_of(h))),
        ("teamId", Int(i64::from(team))),
        ("teamName", Str(team_name(team))),
        ("toAddress", Str(to)),
        ("totalDurationSeconds", Int(i64::from(r.talk + r.hold))),
        ("transferIndicatorId", Int(0)),
        ("transferIndicatorName", Str("None".into())),
    ]
}

/// How a response writes a record: names, numbers, which fields.
pub(crate) struct Style<'a> {
    /// Old field names (`contactStart`, `ACWSeconds`, ...).
    pub(crate) legacy: bool,
    /// Numbers as strings, booleans as `"True"`/`"False"`.
    pub(crate) strings: bool,
    /// The `fields=` query filter (served names), if any.
    pub(crate) fields: Option<&'a [String]>,
    /// The `omit_fields` knob (served names).
    pub(crate) omit: &'a [String],
}

impl Style<'_> {
    fn int(&self, v: i64) -> Value {
        if self.strings {
            Value::String(v.to_string())
        } else {
            Value::from(v)
        }
    }

    fn value(&self, cell: Cell) -> Value {
        match cell {
            Cell::Int(v) => self.int(v),
            Cell::Bool(b) if self.strings => Value::String(if b { "True" } else { "False" }.into()),
            Cell::Bool(b) => Value::Bool(b),
            Cell::Ts(ms) => Value::String(format_ts(ms)),
            Cell::Str(s) => Value::String(s),
            Cell::Tags(tags) => Value::Array(
                tags.into_iter()
                    .map(|(id, name)| {
                        let mut m = Map::new();
                        m.insert("tagId".into(), self.int(id));
                        m.insert("tagName".into(), Value::String(name.into()));
                        Value::Object(m)
                    })
                    .collect(),
            ),
        }
    }

    /// True when the served name `name` is written.
    fn keeps(&self, name: &str) -> bool {
        self.fields.is_none_or(|f| f.iter().any(|x| x == name))
            && !self.omit.iter().any(|x| x == name)
    }
}

/// The completed contact `r` as the Reporting API serves it in `style`.
pub(crate) fn contact_json(cfg: &SimConfig, r: &RawRecord, lut: i64, style: &Style<'_>) -> Value {
    let mut m = Map::new();
    for (name, cell) in contact_cells(cfg, r, lut) {
        let served = if style.legacy {
            legacy_name(name)
        } else {
            name
        };
        if style.keeps(served) {
            m.insert(served.to_owned(), style.value(cell));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::raw_record;

    fn sample(n: u32) -> Vec<RawRecord> {
        (0..n).map(|i| raw_record(42, 19_358, i, n)).collect()
    }

    #[test]
    fn cells_follow_the_published_field_list() {
        let cfg = SimConfig::default();
        for r in sample(50) {
            let names: Vec<&str> = contact_cells(&cfg, &r, r.end_ms)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(names, COMPLETED_CONTACT_FIELDS);
        }
        let mut sorted = COMPLETED_CONTACT_FIELDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 58);
    }

    #[test]
    fn some_records_have_tags_most_do_not() {
        let cfg = SimConfig::default();
        let recs = sample(2000);
        let tagged: Vec<usize> = recs
            .iter()
            .map(|r| tags_of(attr_hash(&cfg, &r.id_bytes())).len())
            .collect();
        let none = tagged.iter().filter(|n| **n == 0).count();
        let two = tagged.iter().filter(|n| **n == 2).count();
        assert!(none > 1500 && none < 1900, "{none}");
        assert!(two > 40 && two < 170, "{two}");
    }

    #[test]
    fn contact_id_reads_the_id_digits() {
        let r = raw_record(42, 19_358, 42, 100);
        assert_eq!(contact_id(&r), 202_301_010_000_042);
        assert_eq!(contact_id_of(&r.to_record()), 202_301_010_000_042);
    }

    #[test]
    fn style_writes_strings_and_legacy_names() {
        let cfg = SimConfig::default();
        let r = raw_record(42, 19_358, 7, 100);
        let style = Style {
            legacy: true,
            strings: true,
            fields: None,
            omit: &["tags".to_owned()],
        };
        let v = contact_json(&cfg, &r, r.end_ms + 60_000, &style);
        assert_eq!(v["contactStart"], format_ts(r.start_ms));
        assert!(v.get("contactStartDate").is_none());
        assert!(v.get("tags").is_none());
        assert_eq!(v["mediaType"], media_type_of(r.medium).0.to_string());
        assert_eq!(v["abandoned"], "False");
        assert_eq!(v.as_object().unwrap().len(), 57);
    }
}
