//! Sequences' current values: data, not configuration. A backup takes them (`pg_sequences.last_value` of
//! every sequence in the tenant's schemas but an extension's, identity and `serial` sequences included:
//! their values are the next ids of their tables); a restore sets them with `setval` only when asked
//! (`--sequence-values`), after the schema is restored. A sequence never read from has no value to keep.

use serde_json::json;
use sqlx::PgPool;

use crate::domains::provider::DataValue;
use crate::model::{Address, Domain};
use crate::util::Within;

const VALUES_SQL: &str = "select s.schemaname::text as schema, s.sequencename::text as name, s.last_value
     from pg_sequences s
     where s.schemaname = any($1) and s.last_value is not null
       and not exists (select 1 from pg_depend d join pg_class c on c.oid = d.objid
                       join pg_namespace n on n.oid = c.relnamespace
                       where d.classid = 'pg_class'::regclass and n.nspname = s.schemaname
                         and c.relname = s.sequencename and d.deptype = 'e')
     order by 1, 2";

/// The current values of the sequences of `schemas`.
pub async fn values(pool: &PgPool, schemas: &[String]) -> Result<Vec<DataValue>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(VALUES_SQL)
        .bind(schemas)
        .fetch_all(pool)
        .within("PostgreSQL")
        .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, last)| DataValue {
            address: Address::new(Domain::Postgres, "sequence", vec![schema, name]).to_string(),
            value: json!({ "last_value": last }),
        })
        .collect())
}

/// The schema and name of a sequence's address, and the value to set; `None` for anything else.
fn target(v: &DataValue) -> Option<(String, String, i64)> {
    let rest = v.address.strip_prefix("postgres.sequence.")?;
    let segs = crate::model::address::split_segments(rest, 2).ok()?;
    let [schema, name] = <[String; 2]>::try_from(segs).ok()?;
    Some((schema, name, v.value.get("last_value")?.as_i64()?))
}

/// Sets each value (in one transaction: all or none); says why of each that could not be set.
pub async fn set(pool: &PgPool, values: &[DataValue]) -> Result<Vec<String>, sqlx::Error> {
    let mut not_set = Vec::new();
    let mut tx = pool.begin().within("PostgreSQL").await?;
    for v in values {
        let Some((schema, name, last)) = target(v) else {
            not_set.push(format!("{}: not a sequence's value; left alone", v.address));
            continue;
        };
        let exists: Option<bool> = sqlx::query_scalar(
            "select true from pg_sequences where schemaname = $1 and sequencename = $2",
        )
        .bind(&schema)
        .bind(&name)
        .fetch_optional(&mut *tx)
        .within("PostgreSQL")
        .await?;
        if exists.is_none() {
            not_set.push(format!("{}: no such sequence in the target; its value {last} was not set", v.address));
            continue;
        }
        sqlx::query("select setval(format('%I.%I', $1::text, $2::text)::regclass, $3, true)")
            .bind(&schema)
            .bind(&name)
            .bind(last)
            .execute(&mut *tx)
            .within("PostgreSQL")
            .await?;
    }
    tx.commit().within("PostgreSQL").await?;
    Ok(not_set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_names_its_sequence_by_address() {
        let v = DataValue {
            address: Address::new(Domain::Postgres, "sequence", vec!["app".into(), "Audit seq".into()]).to_string(),
            value: json!({"last_value": 41}),
        };
        assert_eq!(target(&v), Some(("app".into(), "Audit seq".into(), 41)));
        let other = DataValue { address: "postgres.table.app.t".into(), value: json!({"last_value": 1}) };
        assert_eq!(target(&other), None);
    }
}
