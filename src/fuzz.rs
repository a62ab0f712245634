//! What the fuzz targets (`fuzz/`, run by `scripts/fuzz`) feed untrusted bytes to, and what the suite
//! replays the inputs they found with (`tests/fixtures/fuzz/TARGET/`): one function per reader of input
//! falconer does not control. Each reads, and uses what it read the way the commands do (issues rendered,
//! plans printed); none may panic, whatever the bytes.

use crate::manifest::{Format, LoadOptions, load_str};

/// A reader of untrusted bytes.
pub type Reader = fn(&[u8]);

/// The readers, by the name of their fuzz target and of their folder of inputs.
pub const TARGETS: &[(&str, Reader)] = &[
    ("manifest_toml", |b| manifest(b, Format::Toml)),
    ("manifest_kdl", |b| manifest(b, Format::Kdl)),
    ("manifest_json", |b| manifest(b, Format::Json)),
    ("artifact", artifact),
    ("saved_plan", saved_plan),
    ("snapshot", snapshot),
    ("backup_record", backup_record),
    ("backup_blob", backup_blob),
];

/// A manifest in `format`, loaded and validated strictly; every issue rendered.
pub fn manifest(bytes: &[u8], format: Format) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let opts = LoadOptions {
        strict: true,
        ..Default::default()
    };
    let loaded = load_str("fuzz", text, format, opts);
    for i in &loaded.issues {
        let _ = i.short(&loaded.sources);
        let _ = format!("{:?}", miette::Report::new(i.report(&loaded.sources)));
    }
}

/// The platform's export artifact: parsed, imported and migrated.
pub fn artifact(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(v) = crate::falcone::parse(text) {
        let _ = crate::falcone::import(&v);
        let _ = crate::falcone::migrate(v, "now");
    }
}

/// A saved plan (`plan -o`), read as `apply` reads it and printed in every format.
pub fn saved_plan(bytes: &[u8]) {
    if let Ok(plan) = serde_json::from_slice::<crate::plan::Plan>(bytes) {
        let _ = crate::plan::render::text(&plan, Default::default());
        let _ = crate::plan::render::markdown(&plan);
        let _ = crate::plan::render::json(&plan);
    }
}

/// A live-state snapshot (`plan --against FILE`).
pub fn snapshot(bytes: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = crate::manifest::snapshot::read(&v, "fuzz");
    }
}

/// A backup record, as a repository listing reads it.
pub fn backup_record(bytes: &[u8]) {
    let _ = crate::backup::repo::record_of("backups/fuzz/record.json", bytes);
}

/// A stored blob or index: opened with a key (when sealed), decompressed, read as the index of records
/// and as a domain's document.
pub fn backup_blob(bytes: &[u8]) {
    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let Ok(key) = crate::backup::crypt::Key::parse(KEY) else {
        return;
    };
    let opened = key.open("fuzz", bytes).unwrap_or_else(|_| bytes.to_vec());
    crate::backup::repo::read_packed(&opened);
}

#[cfg(test)]
mod tests {
    /// The seeds of the backup targets are what a repository holds, so the fuzzer starts from real shapes.
    #[test]
    fn the_backup_seeds_are_valid() {
        let record = std::fs::read("tests/fixtures/fuzz/backup_record/seed.json").expect("seed");
        let r =
            crate::backup::repo::record_of("backups/acme/seed.json", &record).expect("a record");
        assert_eq!(r.tenant, "acme");
        let blob = std::fs::read("tests/fixtures/fuzz/backup_blob/seed.bin").expect("seed");
        assert!(crate::backup::repo::index_of(&blob).is_some());
    }
}
