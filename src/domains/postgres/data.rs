//! Sequences' current values: data, not configuration. A backup takes them (`pg_sequence_last_value` of
//! every sequence in the tenant's schemas but an extension's, identity and `serial` sequences included:
//! their values are the next ids of their tables); a restore sets them with `setval` only when asked
//! (`--sequence-values`), after the schema is restored. A sequence never read from has no value to keep.

use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use sqlx::PgPool;

use crate::domains::provider::DataValue;
use crate::model::{Address, Domain};
use crate::util::Within;

/// The sequences of the schemas `$1`, but an extension's (none is opened: no lock is taken).
const LIST_SQL: &str = "select c.oid::int8, n.nspname::text, c.relname::text
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'S' and n.nspname = any($1)
       and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                         and d.deptype = 'e')
     order by 2, 3";

/// The current values of the sequences `$1` (oids): each is opened, and locked until the statement ends.
const VALUES_SQL: &str = "select o, case when has_sequence_privilege(o::oid, 'SELECT,USAGE')
                                   then pg_sequence_last_value(o::oid::regclass) end
     from unnest($1::int8[]) o";

/// Sequences read per statement: each holds a lock on every sequence it reads until it ends, and a
/// transaction has room for a few thousand (`max_locks_per_transaction`).
const CHUNK: usize = 1000;

/// The current values of the sequences of `schemas` (a sequence never read from has none).
pub async fn values(pool: &PgPool, schemas: &[String]) -> Result<Vec<DataValue>, sqlx::Error> {
    let listed: Vec<(i64, String, String)> = sqlx::query_as(LIST_SQL)
        .bind(schemas)
        .fetch_all(pool)
        .within("PostgreSQL")
        .await?;
    // The chunks are read a few at a time, each statement on a connection of its own.
    let chunks: Vec<Vec<i64>> = listed.chunks(CHUNK).map(|c| c.iter().map(|(o, _, _)| *o).collect()).collect();
    let read: Vec<_> = crate::util::each_of(&chunks, |oids| read_chunk(pool, oids))
        .buffered(4)
        .try_collect()
        .await?;
    let mut out = Vec::new();
    for (chunk, read) in listed.chunks(CHUNK).zip(read) {
        for (oid, schema, name) in chunk {
            if let Some(Some(last)) = read.get(oid) {
                let address = Address::new(Domain::Postgres, "sequence", vec![schema.clone(), name.clone()]);
                out.push(DataValue {
                    address: address.to_string(),
                    value: json!({ "last_value": last }),
                });
            }
        }
    }
    Ok(out)
}

/// The current values of the sequences `oids`, by oid (`None`: never read from, or not readable).
async fn read_chunk(pool: &PgPool, oids: &[i64]) -> Result<std::collections::HashMap<i64, Option<i64>>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(VALUES_SQL)
        .bind(oids)
        .fetch_all(pool)
        .within("PostgreSQL")
        .await?;
    Ok(rows.into_iter().collect())
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
