//! The JSON Schema of a manifest file, generated from the typed model (checked in as
//! `schemas/manifest.schema.json`; a test fails when it is stale).

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::domains::KINDS;
use crate::model::{Domain, Tenant};

pub fn manifest_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let tenant = generator.subschema_for::<Tenant>().to_value();
    let mut props = Map::new();
    props.insert(
        "format_version".into(),
        json!({ "description": "Manifest format version", "type": ["string", "integer"], "enum": [super::FORMAT_VERSION, 1] }),
    );
    props.insert("tenant".into(), tenant);
    for domain in Domain::ALL {
        let mut kinds = Map::new();
        for entry in KINDS {
            let meta = (entry.meta)();
            if meta.domain != domain {
                continue;
            }
            let item = (entry.schema)(&mut generator).to_value();
            kinds.insert(
                meta.kind.into(),
                json!({ "description": meta.title, "type": "array", "items": item }),
            );
        }
        props.insert(
            domain.as_str().into(),
            json!({
                "description": format!("{} resources", domain.system()),
                "type": "object",
                "properties": kinds,
                "additionalProperties": false
            }),
        );
    }
    let mut defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    defs.insert("Naming".into(), naming_schema());
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://falconer.dev/schemas/manifest.schema.json",
        "title": "falconer manifest file",
        "description": "One file of a falconer manifest (TOML, KDL or JSON). The files of a directory merge into one tenant manifest; exactly one of them has the `tenant` block.",
        "type": "object",
        "properties": props,
        "additionalProperties": false,
        "$defs": defs
    })
}

/// The naming block: one member per scope the domains declare (`domains::scopes`), and no other.
fn naming_schema() -> Value {
    let props: Map<String, Value> = crate::domains::scopes()
        .filter(|s| !s.key.is_empty())
        .map(|s| {
            let member = match s.many {
                true => json!({ "type": ["array", "null"], "items": { "type": "string" }, "description": s.doc }),
                false => json!({ "type": ["string", "null"], "description": s.doc }),
            };
            (s.key.to_string(), member)
        })
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": props,
        "description": "Naming conventions: the tenant's scope. Nothing outside it is ever planned, changed or deleted."
    })
}
