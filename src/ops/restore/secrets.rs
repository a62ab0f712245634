//! `restore --secrets FILE`: the secrets the backup could not carry, each given by reference where the
//! preflight names it. The file is TOML, a table per object address holding its fields as the preflight
//! and the report name them (JSON pointers), each a secret reference (`{ env = "NAME" }` or
//! `{ file = "path" }`, a path relative to the file):
//!
//! ```toml
//! ["functions.action.sendInvoice"]
//! "/parameter/0/secret" = { env = "SMTP_TOKEN" }
//! ```
//!
//! A field the backup did carry, or an object it does not hold, is refused: a file that says more than the
//! backup needs is a mistake to be told about, not ignored.

use std::path::Path;

use crate::model::SecretValue;
use crate::ops::{Error, Refusal};
use crate::restore::Source;

/// Fills the secrets `path` gives into `source`; the directory each filled object's files are relative to
/// goes to `bases`. The fields filled, `ADDRESS FIELD`.
pub fn fill(
    path: &Path,
    source: &mut Source,
    bases: &mut super::Bases,
) -> Result<Vec<String>, Error> {
    let refused =
        |why: String| Error::Refused(Refusal::Other(format!("{}: {why}", path.display())));
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| refused(e.message().to_string()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut filled = Vec::new();
    for (address, fields) in &table {
        let Some(fields) = fields.as_table() else {
            return Err(refused(format!("`{address}` is not a table of fields")));
        };
        for (field, reference) in fields {
            let secret: SecretValue =
                reference.clone().try_into().map_err(|e: toml::de::Error| {
                    refused(format!("{address} {field}: {}", e.message()))
                })?;
            if matches!(secret, SecretValue::Plain(_) | SecretValue::Redacted(_)) {
                let why = "give a reference, `{ env = \"NAME\" }` or `{ file = \"path\" }`, never the value";
                return Err(refused(format!("{address} {field}: {why}")));
            }
            let value = serde_json::to_value(&secret).unwrap_or_default();
            if !source
                .sections
                .iter_mut()
                .any(|s| s.fill_secret(address, field, &value))
            {
                let why = "not a secret this backup could not carry (the preflight lists those)";
                return Err(refused(format!("{address} {field}: {why}")));
            }
            bases.insert(address.clone(), dir.clone());
            filled.push(format!("{address} {field}"));
        }
    }
    Ok(filled)
}
