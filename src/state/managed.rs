//! What falconer manages for each tenant, and the fingerprints of the secrets it set (and of each tenant's key).

use super::*;

/// What falconer manages for each tenant, and the fingerprints of the secrets it set (and of each tenant's key).
#[derive(Clone, Copy)]
pub struct Managed<'a>(pub(super) &'a State);

impl Managed<'_> {
    /// The resources falconer manages for a tenant.
    pub async fn managed(self, tenant: &str) -> Result<HashSet<Address>, StateError> {
        let rows: Vec<String> = on!(self.0, |p| sqlx::query_scalar(
            "select address from falconer_managed where tenant = $1"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.iter().filter_map(|a| Address::parse(a).ok()).collect())
    }
    /// Records resources as managed (created or adopted) and forgets deleted ones.
    pub async fn update_managed(
        self,
        tenant: &str,
        added: &[Address],
        removed: &[Address],
    ) -> Result<(), StateError> {
        let t = now();
        let added: Vec<String> = added.iter().map(Address::to_string).collect();
        let removed: Vec<String> = removed.iter().map(Address::to_string).collect();
        on!(self.0, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            // A few statements of many rows each, not one round trip per resource.
            for chunk in added.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "insert into falconer_managed (tenant, address, since) ",
                );
                q.push_values(chunk, |mut row, a| {
                    row.push_bind(tenant).push_bind(a).push_bind(t);
                });
                q.push(" on conflict (tenant, address) do nothing");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            for chunk in removed.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("delete from falconer_managed where tenant = ");
                q.push_bind(tenant).push(" and address in (");
                let mut list = q.separated(", ");
                for a in chunk {
                    list.push_bind(a);
                }
                q.push(")");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }
    /// Fingerprints of the secrets falconer last set, by address and field: what a server cannot give back
    /// (a role's password), so that a changed secret is still planned.
    pub async fn secret_fingerprints(
        self,
        tenant: &str,
    ) -> Result<HashMap<(String, String), String>, StateError> {
        let rows: Vec<(String, String, String)> = on!(self.0, |p| sqlx::query_as(
            "select address, field, fingerprint from falconer_secrets where tenant = $1"
        )
        .bind(tenant)
        .fetch_all(p)
        .await
        .map_err(db))?;
        Ok(rows.into_iter().map(|(a, f, fp)| ((a, f), fp)).collect())
    }
    /// Records the fingerprints of secrets just set: (address, field, fingerprint).
    pub async fn record_secrets(
        self,
        tenant: &str,
        set: &[(String, String, String)],
    ) -> Result<(), StateError> {
        on!(self.0, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            for chunk in set.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "insert into falconer_secrets (tenant, address, field, fingerprint) ",
                );
                q.push_values(chunk, |mut row, (address, field, fp)| {
                    row.push_bind(tenant)
                        .push_bind(address)
                        .push_bind(field)
                        .push_bind(fp);
                });
                q.push(
                    " on conflict (tenant, address, field) do update set fingerprint = excluded.fingerprint",
                );
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }
    /// Forgets recorded secrets: one field of a resource, or (`None`) all of a resource's.
    pub async fn forget_secrets(
        self,
        tenant: &str,
        gone: &[(String, Option<String>)],
    ) -> Result<(), StateError> {
        on!(self.0, |p| {
            let mut tx = p.begin().await.map_err(db)?;
            for (address, field) in gone {
                sqlx::query(
                    "delete from falconer_secrets where tenant = $1 and address = $2 and ($3 is null or field = $3)",
                )
                .bind(tenant)
                .bind(address)
                .bind(field)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }
    /// The tenant's fingerprint key, created (random) on first use.
    pub async fn fingerprint_key(self, tenant: &str) -> Result<FingerprintKey, StateError> {
        let hex = crate::util::hex(&crate::util::random::<32>().map_err(db)?);
        let key: String = on!(self.0, |p| {
            sqlx::query("insert into falconer_keys (tenant, fingerprint_key) values ($1, $2) on conflict (tenant) do nothing")
                .bind(tenant)
                .bind(&hex)
                .execute(p)
                .await
                .map_err(db)?;
            sqlx::query_scalar("select fingerprint_key from falconer_keys where tenant = $1")
                .bind(tenant)
                .fetch_one(p)
                .await
                .map_err(db)
        })?;
        Ok(FingerprintKey::new(key.into_bytes()))
    }
}
