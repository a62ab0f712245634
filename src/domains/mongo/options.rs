//! A collection's storage options: time series (its time and meta fields fixed at creation; its granularity
//! or bucketing changed with `collMod`), clustered collections (fixed at creation), documents' expiry, and
//! change-stream pre- and post-images. Their commands, as `create` and `collMod` take them, and the rules
//! and hazards MongoDB holds them to.

use mongodb::bson::{Bson, Document, doc};

use super::Collection;
use crate::diag::Rule;
use crate::domains::Checker;
use crate::model::{Hazard, HazardCode};
use crate::{choice, model};

choice! { "lowercase";
    /// How MongoDB buckets a time series' documents (`seconds` is its default).
    pub enum Granularity { Seconds, Minutes, Hours }
}

model! {
    /// A time-series collection.
    pub struct Timeseries {
        /// The field holding each document's date (fixed at creation).
        pub time_field: String,
        /// The field identifying a series (fixed at creation).
        pub meta_field: Option<String>,
        /// Default `seconds`; only coarser later.
        pub granularity: Option<Granularity>,
        /// Custom bucketing (MongoDB 6.3+), instead of a granularity: both, equal.
        pub bucket_max_span_seconds: Option<u32>,
        pub bucket_rounding_seconds: Option<u32>,
    }
}

/// The bucket span MongoDB derives from a granularity (what it lists beside it).
fn span(g: Granularity) -> u32 {
    match g {
        Granularity::Seconds => 3600,
        Granularity::Minutes => 86_400,
        Granularity::Hours => 2_592_000,
    }
}

/// One form of a time series' settings: the span MongoDB derives from a granularity is not written, and the
/// default granularity is none.
pub fn normalize(t: &mut Timeseries) {
    if let Some(g) = t.granularity
        && t.bucket_max_span_seconds.is_none_or(|s| s == span(g))
        && t.bucket_rounding_seconds.is_none()
    {
        t.bucket_max_span_seconds = None;
    }
    if t.granularity == Some(Granularity::Seconds) && t.bucket_max_span_seconds.is_none() {
        t.granularity = None;
    }
}

/// The `timeseries` document of `create` (all of it) or of `collMod` (what can change).
pub fn timeseries_doc(t: &Timeseries, create: bool) -> Document {
    let mut d = Document::new();
    if create {
        d.insert("timeField", t.time_field.as_str());
        if let Some(m) = &t.meta_field {
            d.insert("metaField", m.as_str());
        }
    }
    match (t.bucket_max_span_seconds, t.bucket_rounding_seconds) {
        (Some(span), Some(round)) => {
            d.insert("bucketMaxSpanSeconds", i64::from(span));
            d.insert("bucketRoundingSeconds", i64::from(round));
        }
        _ => {
            let g = t.granularity.unwrap_or(Granularity::Seconds);
            d.insert("granularity", super::bson::enum_str(&g));
        }
    }
    d
}

/// What `create` takes of the options.
pub fn create_parts(c: &Collection, cmd: &mut Document) {
    if let Some(t) = &c.timeseries {
        cmd.insert("timeseries", timeseries_doc(t, true));
    }
    if let Some(s) = c.expire_after_seconds {
        cmd.insert("expireAfterSeconds", i64::from(s));
    }
    if c.clustered == Some(true) {
        cmd.insert("clusteredIndex", doc! { "key": { "_id": 1 }, "unique": true });
    }
    if let Some(on) = c.change_stream_pre_and_post_images {
        cmd.insert("changeStreamPreAndPostImages", doc! { "enabled": on });
    }
}

/// What `collMod` takes of the options the change touches (`touched`: its top-level fields).
pub fn collmod_parts(c: &Collection, touched: &[String], cmd: &mut Document) {
    let wants = |f: &str| touched.iter().any(|t| t == f);
    if wants("timeseries")
        && let Some(t) = &c.timeseries
    {
        cmd.insert("timeseries", timeseries_doc(t, false));
    }
    if wants("expire_after_seconds") {
        let v = c.expire_after_seconds.map_or(Bson::String("off".into()), |s| Bson::Int64(s.into()));
        cmd.insert("expireAfterSeconds", v);
    }
    if wants("change_stream_pre_and_post_images") {
        let on = c.change_stream_pre_and_post_images.unwrap_or(false);
        cmd.insert("changeStreamPreAndPostImages", doc! { "enabled": on });
    }
}

/// The options of `listCollections`' `options`.
pub fn read(c: &mut Collection, o: &Document) {
    if let Ok(t) = o.get_document("timeseries") {
        let n = |k: &str| super::bson::int(t.get(k)).and_then(|v| u32::try_from(v).ok());
        let mut ts = Timeseries {
            time_field: t.get_str("timeField").unwrap_or_default().to_string(),
            meta_field: t.get_str("metaField").ok().map(str::to_string),
            granularity: t
                .get_str("granularity")
                .ok()
                .and_then(|g| serde_json::from_value(serde_json::Value::String(g.into())).ok()),
            bucket_max_span_seconds: n("bucketMaxSpanSeconds"),
            bucket_rounding_seconds: n("bucketRoundingSeconds"),
        };
        normalize(&mut ts);
        c.timeseries = Some(ts);
    }
    c.expire_after_seconds =
        super::bson::int(o.get("expireAfterSeconds")).and_then(|v| u32::try_from(v).ok());
    c.clustered = o.contains_key("clusteredIndex").then_some(true);
    c.change_stream_pre_and_post_images = o
        .get_document("changeStreamPreAndPostImages")
        .ok()
        .and_then(|d| d.get_bool("enabled").ok())
        .filter(|on| *on);
}

pub(super) const OPTIONS_RULE: Rule = Rule {
    id: "mongo-collection-options",
    says: "a time series has a time field (not `_id`, not its meta field) and a granularity or both bucket \
           settings, equal; documents expire only in a time series or clustered collection; a time series, a \
           view and a capped collection are not clustered",
    source: "MongoDB Manual, create command (timeseries, expireAfterSeconds, clusteredIndex) and Time Series \
             Collections (Set Granularity; Custom Bucketing: bucketMaxSpanSeconds equals \
             bucketRoundingSeconds)",
    breaks: "[[mongo.collection]]\nname = \"events\"\ndatabase = \"acme\"\nexpire_after_seconds = 60\n",
};

/// The rules of the options.
pub fn check(c: &Collection, cx: &mut Checker<'_>) {
    if let Some(t) = &c.timeseries {
        if t.time_field.is_empty() || t.time_field == "_id" || t.meta_field.as_ref() == Some(&t.time_field) {
            cx.rule("timeseries.time_field", &OPTIONS_RULE, "a time series needs a time field of its own");
        }
        let custom = (t.bucket_max_span_seconds, t.bucket_rounding_seconds);
        let ok = match custom {
            (None, None) => true,
            (Some(a), Some(b)) => a == b && t.granularity.is_none(),
            _ => false,
        };
        if !ok {
            cx.rule(
                "timeseries",
                &OPTIONS_RULE,
                "custom bucketing takes both `bucket_max_span_seconds` and `bucket_rounding_seconds`, equal, \
                 and no granularity",
            );
        }
    }
    let expires = c.timeseries.is_some() || c.clustered == Some(true);
    if c.expire_after_seconds.is_some() && !expires {
        cx.rule(
            "expire_after_seconds",
            &OPTIONS_RULE,
            "documents expire only in a time series or clustered collection (a TTL index does it elsewhere)",
        );
    }
    if c.clustered == Some(true) && (c.timeseries.is_some() || c.view_on.is_some() || c.capped.is_some()) {
        cx.rule("clustered", &OPTIONS_RULE, "a time series, a view or a capped collection is not clustered");
    }
}

/// Hazards of changing `live` into `d`: what only creation sets cannot change in place.
pub fn hazards(d: &Collection, live: Option<&Collection>) -> Vec<Hazard> {
    let Some(l) = live else {
        return Vec::new();
    };
    let ns = format!("{}.{}", d.database, d.name);
    let mut out = Vec::new();
    let fixed = |t: Option<&Timeseries>| t.map(|t| (t.time_field.clone(), t.meta_field.clone()));
    if fixed(d.timeseries.as_ref()) != fixed(l.timeseries.as_ref()) {
        out.push(Hazard::new(
            HazardCode::Impossible,
            format!(
                "collection {ns}: a time series' time and meta fields, and whether a collection is one, are set \
                 when it is created; MongoDB cannot change them in place (create a new collection and copy the \
                 documents)"
            ),
        ));
    }
    if d.clustered.unwrap_or(false) != l.clustered.unwrap_or(false) {
        out.push(Hazard::new(
            HazardCode::Impossible,
            format!("collection {ns}: whether a collection is clustered is set when it is created"),
        ));
    }
    out
}
