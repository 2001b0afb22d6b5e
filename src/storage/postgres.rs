//! The PostgreSQL backend: production, several replicas sharing one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres as Db};
use std::str::FromStr;

use super::{DbOptions, Result};

const BACKEND: &str = "postgres";
/// PostgreSQL's default isolation plus explicit row locks where a rule spans rows.
const BEGIN_WRITE: &str = "BEGIN";
/// Serialises changes to one organisation's reporting tree and admins across replicas.
const LOCK_ORG: &str = "SELECT id FROM orgs WHERE id = $1 FOR UPDATE";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct SqlRepo {
    pool: Pool<Db>,
}

impl SqlRepo {
    pub async fn open(url: &str, options: &DbOptions, migrate: bool) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url)?.application_name("muster");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await?;
        }
        Ok(SqlRepo { pool })
    }
}

include!("sql/all.rs");
