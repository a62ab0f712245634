//! Real servers for the integration tests. `scripts/test` starts them and exports their addresses.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

/// The PostgreSQL server of the test run.
pub fn postgres_url() -> String {
    std::env::var("FALCONER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, dropped by [`TestDb::drop`].
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
    admin: PgPool,
}

impl TestDb {
    pub async fn new(tag: &str) -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let admin_url = postgres_url();
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("no PostgreSQL at {admin_url} ({e}): run scripts/test, or set FALCONER_TEST_POSTGRES_URL"));
        let name = format!(
            "falconer_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .execute(format!("drop database if exists \"{name}\" with (force)").as_str())
            .await
            .expect("drop");
        admin
            .execute(format!("create database \"{name}\"").as_str())
            .await
            .expect("create database");
        let opts = PgConnectOptions::from_str(&admin_url)
            .expect("url")
            .database(&name);
        let url = opts.to_url_lossy().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .expect("connect");
        TestDb {
            pool,
            url,
            name,
            admin,
        }
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    pub async fn drop(self) {
        self.pool.close().await;
        let _ = self
            .admin
            .execute(format!("drop database if exists \"{}\" with (force)", self.name).as_str())
            .await;
    }
}
