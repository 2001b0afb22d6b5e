//! The two migration sets describe one schema: `migrations/sqlite` and `migrations/postgres`,
//! applied by the server's own migrators, give the same tables, columns, keys, indexes,
//! foreign keys, checks and triggers once each backend's catalogue is read into one
//! backend-neutral description.
//!
//! The PostgreSQL half needs a server (see `tests/common`); without one only the SQLite
//! description is built and checked, and the comparison is skipped with a note.
//! Differences that are intended (what one backend cannot express) are in `ALLOWED`, each
//! with its reason; any other difference fails the test, naming the table and the item.

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use common::Backend;

/// The migrators the server runs (`src/storage/sqlite.rs`, `src/storage/postgres.rs`).
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// sqlx's own bookkeeping, not part of muster's schema.
const SQLX_TABLE: &str = "_sqlx_migrations";

// ---------------------------------------------------------------------------------
// What may differ, and what must be there.

/// A difference between the backends that is meant to be there.
struct Allowed {
    path: &'static str,
    sqlite: Option<&'static str>,
    postgres: Option<&'static str>,
    why: &'static str,
}

const ALLOWED: &[Allowed] = &[Allowed {
    path: "audit_log: trigger before truncate",
    sqlite: None,
    postgres: Some("for each statement"),
    why: "SQLite has no TRUNCATE; a DELETE without WHERE there fires the DELETE triggers \
          (triggers switch off its truncate optimisation), which audit_log has",
}];

/// Every table of muster's schema: both descriptions must have at least these.
const KNOWN_TABLES: &[&str] = &[
    "app_log_batches",
    "app_log_entries",
    "attendance_events",
    "attendance_requests",
    "audit_log",
    "geofence_versions",
    "geofences",
    "orgs",
    "photos",
    "refresh_families",
    "refresh_tokens",
    "role_grants",
    "sites",
    "user_roles",
    "user_sites",
    "users",
];

/// Facts each description must contain, one or more read by every part of the
/// introspection, so that a query that silently reads nothing cannot make both sides agree.
const KNOWN_FACTS: &[(&str, &str, &str)] = &[
    ("users", "column email_key", "text not null"),
    ("users", "column manager_id", "blob null"),
    ("photos", "column bytes", "integer null"),
    ("geofences", "column area_m2", "real not null"),
    ("attendance_events", "column id", "blob not null"),
    ("role_grants", "primary key", "(org_id, role, permission)"),
    ("users", "unique (email_key)", "constraint users_email_key_unique"),
    (
        "users",
        "unique (org_id, employee_code)",
        "constraint users_employee_code_unique",
    ),
    ("sites", "unique (org_id, id)", "unnamed constraint"),
    ("photos", "unique (storage_key)", "unnamed constraint"),
    (
        "attendance_events",
        "index attendance_events_org_user_captured_id",
        "(org_id, user_id, captured_at, id)",
    ),
    (
        "attendance_events",
        "index attendance_events_retention",
        "(org_id, captured_at) where location_removed_at is null",
    ),
    (
        "attendance_events",
        "index attendance_events_photo_unique",
        "(photo_id) unique where photo_id is not null",
    ),
    (
        "photos",
        "index photos_org_created",
        "(org_id, created_at) where status <> 'deleted'",
    ),
    (
        "users",
        "foreign key (org_id, manager_id) -> users",
        "references (org_id, id) on delete no action on update no action",
    ),
    (
        "refresh_tokens",
        "foreign key (family_id) -> refresh_families",
        "references (id) on delete no action on update no action",
    ),
    ("attendance_events", "check kind in ('check_in', 'check_out')", "check"),
    ("geofences", "check version >= 1", "check"),
    (
        "attendance_requests",
        "index attendance_requests_one_pending",
        "(org_id, user_id, local_date, kind) unique where status = 'pending'",
    ),
    (
        "attendance_requests",
        "index attendance_requests_corrected_once",
        "(event_id) unique where (status = 'approved') and (event_id is not null)",
    ),
    (
        "attendance_events",
        "foreign key (request_id) -> attendance_requests",
        "references (id) on delete no action on update no action",
    ),
    ("audit_log", "trigger before update", "for each row"),
    ("audit_log", "trigger before delete", "for each row"),
];

/// Facts no description may contain: later migrations dropped these, so their absence
/// shows every migration ran, not just the first.
const ABSENT_FACTS: &[(&str, &str)] = &[
    ("attendance_events", "index attendance_events_org_user_captured"),
    ("attendance_events", "unique (org_id, id)"),
    ("attendance_events", "unique (photo_id)"),
];

// ---------------------------------------------------------------------------------
// Column types.

/// PostgreSQL's type (as `format_type` names it) → the neutral type: the storage class the
/// SQLite schema uses for it (its header: uuids as 16-byte BLOBs, times as RFC 3339 UTC TEXT,
/// JSON as TEXT; booleans are INTEGER 0/1). SQLite cannot tell JSON, times and text apart,
/// nor booleans from integers, so neither can the comparison.
const POSTGRES_TYPES: &[(&str, &str)] = &[
    ("uuid", "blob"),
    ("text", "text"),
    ("jsonb", "text"),
    ("timestamp with time zone", "text"),
    ("boolean", "integer"),
    ("integer", "integer"),
    ("bigint", "integer"),
    ("double precision", "real"),
];

/// SQLite's declared type (what STRICT tables allow) → the neutral type.
const SQLITE_TYPES: &[(&str, &str)] = &[
    ("BLOB", "blob"),
    ("TEXT", "text"),
    ("INTEGER", "integer"),
    ("INT", "integer"),
    ("REAL", "real"),
];

/// A type missing from `table` stays visible as itself, so it shows in the diff instead of
/// being guessed.
fn neutral_type(table: &[(&str, &str)], backend: &str, native: &str) -> String {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(native))
        .map_or_else(|| format!("unmapped {backend} type {native}"), |(_, t)| (*t).to_owned())
}

// ---------------------------------------------------------------------------------
// The backend-neutral description.

#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
}

#[derive(Debug, Default)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    /// Unique constraints by their columns in order, with the name given in the migration:
    /// the app tells unique violations apart by it on PostgreSQL (`src/storage/sql/users.rs`).
    unique: BTreeMap<Vec<String>, Option<String>>,
    /// Indexes created on their own (not those behind a primary key or unique constraint).
    indexes: BTreeMap<String, Index>,
    /// By (columns, referenced table).
    foreign_keys: BTreeMap<(Vec<String>, String), ForeignKey>,
    /// Normalised check expressions.
    checks: BTreeSet<String>,
    /// "before update" → "for each row"; names differ between the backends, events do not.
    triggers: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Column {
    ty: String,
    nullable: bool,
}

#[derive(Debug)]
struct Index {
    /// Column names in order, "name desc" when descending, "<expression>" for an expression.
    columns: Vec<String>,
    unique: bool,
    method: String,
    predicate: Option<String>,
}

#[derive(Debug)]
struct ForeignKey {
    columns: Vec<String>,
    on_delete: String,
    on_update: String,
}

fn list(items: &[String]) -> String {
    format!("({})", items.join(", "))
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", list(&self.columns))?;
        if self.unique {
            write!(f, " unique")?;
        }
        if self.method != "btree" {
            write!(f, " using {}", self.method)?;
        }
        if let Some(p) = &self.predicate {
            write!(f, " where {p}")?;
        }
        Ok(())
    }
}

impl Table {
    /// Every fact about the table as (item, value); the item names it in a diff.
    fn facts(&self) -> BTreeMap<String, String> {
        let mut facts = BTreeMap::new();
        for (name, c) in &self.columns {
            let null = if c.nullable { "null" } else { "not null" };
            facts.insert(format!("column {name}"), format!("{} {null}", c.ty));
        }
        if !self.primary_key.is_empty() {
            facts.insert("primary key".to_owned(), list(&self.primary_key));
        }
        for (columns, name) in &self.unique {
            let value = name
                .as_ref()
                .map_or_else(|| "unnamed constraint".to_owned(), |n| format!("constraint {n}"));
            facts.insert(format!("unique {}", list(columns)), value);
        }
        for (name, index) in &self.indexes {
            facts.insert(format!("index {name}"), index.to_string());
        }
        for ((columns, target), fk) in &self.foreign_keys {
            facts.insert(
                format!("foreign key {} -> {target}", list(columns)),
                format!(
                    "references {} on delete {} on update {}",
                    list(&fk.columns),
                    fk.on_delete,
                    fk.on_update
                ),
            );
        }
        for check in &self.checks {
            facts.insert(format!("check {check}"), "check".to_owned());
        }
        for (event, orientation) in &self.triggers {
            facts.insert(format!("trigger {event}"), orientation.clone());
        }
        facts
    }
}

/// One fact that the backends disagree on; `None` where a side lacks it.
#[derive(Debug, PartialEq, Eq)]
struct Difference {
    path: String,
    sqlite: Option<String>,
    postgres: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(missing)".to_owned());
        write!(
            f,
            "{}\n    sqlite:   {}\n    postgres: {}",
            self.path,
            side(&self.sqlite),
            side(&self.postgres)
        )
    }
}

/// Every fact on which `sqlite` and `postgres` differ, sorted. A table on one side only is
/// one difference, not one per column.
fn diff(sqlite: &Schema, postgres: &Schema) -> Vec<Difference> {
    let names: BTreeSet<&String> = sqlite.tables.keys().chain(postgres.tables.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (s, p) = match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(s), Some(p)) => (s.facts(), p.facts()),
            (s, p) => {
                out.push(Difference {
                    path: name.clone(),
                    sqlite: s.map(|_| "table".to_owned()),
                    postgres: p.map(|_| "table".to_owned()),
                });
                continue;
            }
        };
        let items: BTreeSet<&String> = s.keys().chain(p.keys()).collect();
        for item in items {
            let (a, b) = (s.get(item), p.get(item));
            if a != b {
                out.push(Difference {
                    path: format!("{name}: {item}"),
                    sqlite: a.cloned(),
                    postgres: b.cloned(),
                });
            }
        }
    }
    out
}

/// Panics unless `schema` has every known table and fact, and none of the absent ones.
fn assert_complete(backend: &str, schema: &Schema) {
    assert!(
        !schema.tables.contains_key(SQLX_TABLE),
        "{backend}: sqlx's own table leaked in"
    );
    for table in KNOWN_TABLES {
        assert!(schema.tables.contains_key(*table), "{backend}: no table {table}");
    }
    for (table, item, value) in KNOWN_FACTS {
        let facts = schema.tables[*table].facts();
        assert_eq!(
            facts.get(*item).map(String::as_str),
            Some(*value),
            "{backend}: {table}: {item}; the table's facts: {facts:#?}"
        );
    }
    for (table, item) in ABSENT_FACTS {
        assert!(
            !schema.tables[*table].facts().contains_key(*item),
            "{backend}: {table}: {item} should not be there"
        );
    }
}

// ---------------------------------------------------------------------------------
// SQL text: SQLite keeps only the DDL for checks, partial-index predicates, constraint names
// and trigger events, and PostgreSQL's deparsed expressions differ in form; both are read
// through one small tokenizer and normalised the same way.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword, identifier or number: lower-cased unless it was quoted.
    Word(String),
    /// A string literal as written, quotes included.
    Str(String),
    /// A run of operator characters (`<>`, `>=`, `::`, ...).
    Op(String),
    /// One of `( ) [ ] , . ;`. Brackets are not SQLite identifier quotes here: the
    /// migrations do not use those, and PostgreSQL writes `ARRAY[...]`.
    Punct(char),
}

use Token::{Op, Punct, Str, Word};

/// `sql` as tokens, comments dropped.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '\'' | '"' | '`') {
            // A quote doubled inside is the quote itself.
            let mut inner = String::new();
            i += 1;
            while let Some(q) = at(i) {
                i += 1;
                if q == c {
                    if at(i) == Some(c) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                inner.push(q);
            }
            out.push(if c == '\'' {
                Str(format!("'{}'", inner.replace('\'', "''")))
            } else {
                Word(inner)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                i += 1;
            }
            out.push(Word(chars[start..i].iter().collect::<String>().to_lowercase()));
        } else if "()[],.;".contains(c) {
            out.push(Punct(c));
            i += 1;
        } else {
            let start = i;
            while at(i).is_some_and(|c| !(c.is_whitespace() || c.is_alphanumeric() || "()[],.;'\"`_$".contains(c))) {
                i += 1;
            }
            out.push(Op(chars[start..i].iter().collect()));
        }
    }
    out
}

/// The tokens as text with one canonical spacing.
fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Token> = None;
    for t in tokens {
        let tight =
            matches!(prev, None | Some(Punct('(' | '[' | '.'))) || matches!(t, Punct(')' | ']' | ',' | '.' | ';'));
        if !tight {
            out.push(' ');
        }
        match t {
            Word(s) | Str(s) | Op(s) => out.push_str(s),
            Punct(c) => out.push(*c),
        }
        prev = Some(t);
    }
    out
}

/// The index of the bracket closing the one at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let (o, c) = match tokens.get(open)? {
        Punct('(') => ('(', ')'),
        Punct('[') => ('[', ']'),
        _ => return None,
    };
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if *t == Punct(o) {
            depth += 1;
        } else if *t == Punct(c) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Words that continue a type name after `::` (`double precision`, `timestamp with time zone`).
const TYPE_NAME_WORDS: &[&str] = &["precision", "varying", "with", "without", "time", "zone"];

/// An expression in a form both backends reach: PostgreSQL's casts on literals dropped, its
/// `= ANY (ARRAY[...])` (how it stores `IN (...)`) back to `in (...)`, outer parentheses
/// dropped. Sub-expressions it parenthesises (`(a > 0) AND (b > 0)`) stay as they are: the
/// migrations write such checks and predicates as PostgreSQL prints them, and a difference
/// shows in the diff.
fn normalise(tokens: &[Token]) -> String {
    let mut t: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == Op("::".to_owned()) {
            i += 2;
            while matches!(tokens.get(i), Some(Word(w)) if TYPE_NAME_WORDS.contains(&w.as_str())) {
                i += 1;
            }
            if tokens.get(i) == Some(&Punct('[')) && tokens.get(i + 1) == Some(&Punct(']')) {
                i += 2;
            }
        } else {
            t.push(tokens[i].clone());
            i += 1;
        }
    }
    let mut i = 0;
    while i + 4 < t.len() {
        let negated = match (&t[i], &t[i + 1]) {
            (Op(op), Word(w)) if op == "=" && w == "any" => Some(false),
            (Op(op), Word(w)) if op == "<>" && w == "all" => Some(true),
            _ => None,
        };
        let array = t[i + 2] == Punct('(') && t[i + 3] == Word("array".to_owned()) && t[i + 4] == Punct('[');
        if let (Some(negated), true) = (negated, array)
            && let Some(close) = closing(&t, i + 4)
            && t.get(close + 1) == Some(&Punct(')'))
        {
            let mut replacement = if negated {
                vec![Word("not".to_owned()), Word("in".to_owned())]
            } else {
                vec![Word("in".to_owned())]
            };
            replacement.push(Punct('('));
            replacement.extend_from_slice(&t[i + 5..close]);
            replacement.push(Punct(')'));
            t.splice(i..close + 2, replacement);
        }
        i += 1;
    }
    while t.first() == Some(&Punct('(')) && closing(&t, 0) == Some(t.len() - 1) {
        t.pop();
        t.remove(0);
    }
    render(&t)
}

/// The normalised expressions of the `CHECK (...)` constraints in a SQLite `CREATE TABLE`.
fn sqlite_checks(create_table: &str) -> Vec<String> {
    let t = tokens(create_table);
    (0..t.len())
        .filter(|&i| t[i] == Word("check".to_owned()))
        .filter_map(|i| closing(&t, i + 1).map(|close| normalise(&t[i + 2..close])))
        .collect()
}

/// The names of the table-level `CONSTRAINT name UNIQUE (...)` in a SQLite `CREATE TABLE`,
/// by their columns: SQLite keeps the name only in the DDL.
fn sqlite_unique_names(create_table: &str) -> BTreeMap<Vec<String>, String> {
    let t = tokens(create_table);
    let mut names = BTreeMap::new();
    for i in 0..t.len().saturating_sub(3) {
        if let (Word(c), Word(name), Word(u)) = (&t[i], &t[i + 1], &t[i + 2])
            && c == "constraint"
            && u == "unique"
            && let Some(close) = closing(&t, i + 3)
        {
            let columns = t[i + 4..close]
                .iter()
                .filter_map(|t| match t {
                    Word(w) if w != "asc" && w != "desc" => Some(w.clone()),
                    _ => None,
                })
                .collect();
            names.insert(columns, name.clone());
        }
    }
    names
}

/// The normalised `WHERE` of a SQLite `CREATE INDEX`.
fn sqlite_index_predicate(create_index: &str) -> Option<String> {
    let t = tokens(create_index);
    let mut depth = 0i32;
    for (i, token) in t.iter().enumerate() {
        match token {
            Punct('(') => depth += 1,
            Punct(')') => depth -= 1,
            Word(w) if w == "where" && depth == 0 => {
                let end = if t.last() == Some(&Punct(';')) {
                    t.len() - 1
                } else {
                    t.len()
                };
                return Some(normalise(&t[i + 1..end]));
            }
            _ => {}
        }
    }
    None
}

/// "before update", "after update of a, b", ... for a SQLite `CREATE TRIGGER`; `None` when
/// the DDL is not one.
fn sqlite_trigger_event(create_trigger: &str) -> Option<String> {
    let t = tokens(create_trigger);
    let word = |i: usize| match t.get(i) {
        Some(Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut i = t.iter().position(|t| *t == Word("trigger".to_owned()))? + 1;
    if (word(i), word(i + 1), word(i + 2)) == (Some("if"), Some("not"), Some("exists")) {
        i += 3;
    }
    i += 1; // the name
    if t.get(i) == Some(&Punct('.')) {
        i += 2; // schema.name
    }
    // SQLite's default timing is BEFORE.
    let timing = match word(i)? {
        w @ ("before" | "after") => {
            i += 1;
            w
        }
        "instead" => {
            i += 2;
            "instead of"
        }
        _ => "before",
    };
    let event = word(i)?;
    if event == "update" && word(i + 1) == Some("of") {
        let mut columns: Vec<String> = t[i + 2..]
            .iter()
            .take_while(|t| **t != Word("on".to_owned()))
            .filter_map(|t| match t {
                Word(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        columns.sort();
        return Some(format!("{timing} update of {}", columns.join(", ")));
    }
    Some(format!("{timing} {event}"))
}

// ---------------------------------------------------------------------------------
// SQLite.

/// Applies the SQLite migrations to a new database at `path` and describes it.
async fn sqlite_schema(path: &Path) -> Schema {
    let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.expect("open SQLite");
    SQLITE_MIGRATOR.run(&mut conn).await.expect("SQLite migrations apply");
    let schema = describe_sqlite(&mut conn).await.expect("read SQLite's catalogue");
    conn.close().await.expect("close SQLite");
    schema
}

/// One column of a foreign key, as `pragma_foreign_key_list` gives it.
#[derive(sqlx::FromRow)]
struct SqliteReference {
    id: i64,
    target: String,
    from: String,
    /// `None` when the DDL named no columns: the target's primary key.
    to: Option<String>,
    on_delete: String,
    on_update: String,
}

async fn describe_sqlite(conn: &mut SqliteConnection) -> sqlx::Result<Schema> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::default();
    for (name, sql) in tables {
        let mut table = Table::default();
        let columns: Vec<(String, String, bool, i64)> =
            sqlx::query_as(r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?1) ORDER BY cid"#)
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
        let mut primary_key = Vec::new();
        for (column, ty, not_null, pk) in columns {
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            table.columns.insert(
                column,
                Column {
                    ty: neutral_type(SQLITE_TYPES, "sqlite", &ty),
                    nullable: !not_null,
                },
            );
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();

        let unique_names = sqlite_unique_names(&sql);
        let indexes: Vec<(String, bool, String, bool)> =
            sqlx::query_as(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?1)"#)
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
        for (index, unique, origin, partial) in indexes {
            let key: Vec<(Option<String>, bool)> =
                sqlx::query_as(r#"SELECT name, "desc" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno"#)
                    .bind(&index)
                    .fetch_all(&mut *conn)
                    .await?;
            let columns: Vec<String> = key
                .into_iter()
                .map(|(column, desc)| {
                    // An expression (cid -2) has no name, and the pragma does not give its text.
                    let column = column.unwrap_or_else(|| "<expression>".to_owned());
                    if desc { format!("{column} desc") } else { column }
                })
                .collect();
            match origin.as_str() {
                // The primary key's own index: the key is read from the columns above.
                "pk" => {}
                "u" => {
                    let constraint = unique_names.get(&columns).cloned();
                    table.unique.insert(columns, constraint);
                }
                _ => {
                    let predicate = if partial {
                        let (ddl,): (String,) =
                            sqlx::query_as("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
                                .bind(&index)
                                .fetch_one(&mut *conn)
                                .await?;
                        Some(sqlite_index_predicate(&ddl).expect("a partial index has a WHERE"))
                    } else {
                        None
                    };
                    table.indexes.insert(
                        index,
                        Index {
                            columns,
                            unique,
                            method: "btree".to_owned(),
                            predicate,
                        },
                    );
                }
            }
        }

        let references: Vec<SqliteReference> = sqlx::query_as(
            r#"SELECT id, "table" AS target, "from", "to", on_delete, on_update
               FROM pragma_foreign_key_list(?1) ORDER BY id, seq"#,
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        // One row per column: a constraint is the rows of one id.
        let mut by_id: BTreeMap<i64, Vec<SqliteReference>> = BTreeMap::new();
        for r in references {
            by_id.entry(r.id).or_default().push(r);
        }
        for rows in by_id.into_values() {
            let first = &rows[0];
            let fk = ForeignKey {
                // Targets left out (`REFERENCES t`) are resolved once every table is read.
                columns: rows.iter().map(|r| r.to.clone().unwrap_or_default()).collect(),
                on_delete: first.on_delete.to_lowercase(),
                on_update: first.on_update.to_lowercase(),
            };
            let from = rows.iter().map(|r| r.from.clone()).collect();
            table.foreign_keys.insert((from, first.target.clone()), fk);
        }

        table.checks = sqlite_checks(&sql).into_iter().collect();
        schema.tables.insert(name, table);
    }

    // `REFERENCES t` without columns means t's primary key.
    let keys: BTreeMap<String, Vec<String>> = schema
        .tables
        .iter()
        .map(|(name, t)| (name.clone(), t.primary_key.clone()))
        .collect();
    for table in schema.tables.values_mut() {
        for ((_, target), fk) in table.foreign_keys.iter_mut() {
            if fk.columns.iter().all(String::is_empty) {
                fk.columns = keys.get(target).cloned().unwrap_or_default();
            }
        }
    }

    let triggers: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut *conn)
            .await?;
    for (trigger, table, sql) in triggers {
        let event = sqlite_trigger_event(&sql).unwrap_or_else(|| panic!("trigger {trigger}: cannot read {sql}"));
        // SQLite has row triggers only.
        if let Some(t) = schema.tables.get_mut(&table) {
            t.triggers.insert(event, "for each row".to_owned());
        }
    }
    Ok(schema)
}

// ---------------------------------------------------------------------------------
// PostgreSQL.

/// Applies the PostgreSQL migrations to the empty database at `url` and describes it.
async fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::connect(url).await.expect("connect to PostgreSQL");
    POSTGRES_MIGRATOR
        .run(&mut conn)
        .await
        .expect("PostgreSQL migrations apply");
    let schema = describe_postgres(&mut conn).await.expect("read PostgreSQL's catalogue");
    conn.close().await.expect("close PostgreSQL");
    schema
}

/// PostgreSQL's `confdeltype` / `confupdtype` letters, in SQLite's words.
fn postgres_action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => other,
    }
    .to_owned()
}

/// A primary key, unique, foreign key, check or exclusion constraint from `pg_constraint`.
#[derive(sqlx::FromRow)]
struct PgConstraint {
    table: String,
    name: String,
    kind: String,
    /// The constrained columns in key order.
    columns: Vec<String>,
    /// A foreign key's referenced table and columns (empty for other kinds).
    target: Option<String>,
    target_columns: Vec<String>,
    on_delete: String,
    on_update: String,
    definition: String,
}

/// An index from `pg_index`.
#[derive(sqlx::FromRow)]
struct PgIndex {
    table: String,
    name: String,
    unique: bool,
    method: String,
    columns: Vec<String>,
    predicate: Option<String>,
}

async fn describe_postgres(conn: &mut PgConnection) -> sqlx::Result<Schema> {
    let mut schema = Schema::default();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    for (name,) in tables {
        schema.tables.insert(name, Table::default());
    }

    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, column, ty, not_null) in columns {
        if let Some(t) = schema.tables.get_mut(&table) {
            t.columns.insert(
                column,
                Column {
                    ty: neutral_type(POSTGRES_TYPES, "postgres", &ty),
                    nullable: !not_null,
                },
            );
        }
    }

    // Column lists in key order; `confkey` is empty but for foreign keys.
    let constraints: Vec<PgConstraint> = sqlx::query_as(
        "SELECT c.relname::text AS table, con.conname::text AS name, con.contype::text AS kind,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)
                    AS columns,
                f.relname::text AS target,
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
                    AS target_columns,
                con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
                pg_get_constraintdef(con.oid) AS definition
             FROM pg_constraint con
             JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class f ON f.oid = con.confrelid
             WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u', 'f', 'c', 'x')",
    )
    .fetch_all(&mut *conn)
    .await?;
    for c in constraints {
        let Some(t) = schema.tables.get_mut(&c.table) else {
            continue;
        };
        match c.kind.as_str() {
            "p" => t.primary_key = c.columns,
            "u" => {
                // A name PostgreSQL made up itself is no name given in the migration.
                let default = format!("{}_{}_key", c.table, c.columns.join("_"));
                t.unique.insert(c.columns, (c.name != default).then_some(c.name));
            }
            "f" => {
                t.foreign_keys.insert(
                    (c.columns, c.target.unwrap_or_default()),
                    ForeignKey {
                        columns: c.target_columns,
                        on_delete: postgres_action(&c.on_delete),
                        on_update: postgres_action(&c.on_update),
                    },
                );
            }
            // `CHECK (...)`, or an exclusion constraint, which SQLite has no form of.
            _ => {
                let mut def = tokens(&c.definition);
                if def.first() == Some(&Word("check".to_owned())) {
                    def.remove(0);
                }
                t.checks.insert(normalise(&def));
            }
        }
    }

    // Indexes of their own: not those behind a primary key, unique or exclusion constraint.
    let indexes: Vec<PgIndex> = sqlx::query_as(
        "SELECT t.relname::text AS table, i.relname::text AS name, ix.indisunique AS unique, am.amname::text AS method,
            ARRAY(SELECT CASE WHEN ix.indkey[k - 1] = 0 THEN '<expression>'
                              ELSE pg_get_indexdef(ix.indexrelid, k, true) END
                         || CASE WHEN ix.indoption[k - 1] & 1 = 1 THEN ' desc' ELSE '' END
                  FROM generate_series(1, ix.indnkeyatts::int) AS k ORDER BY k) AS columns,
            pg_get_expr(ix.indpred, ix.indrelid) AS predicate
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_class t ON t.oid = ix.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_am am ON am.oid = i.relam
         WHERE n.nspname = current_schema()
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid
                           AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x'))",
    )
    .fetch_all(&mut *conn)
    .await?;
    for ix in indexes {
        if let Some(t) = schema.tables.get_mut(&ix.table) {
            t.indexes.insert(
                ix.name,
                Index {
                    columns: ix.columns,
                    unique: ix.unique,
                    method: ix.method,
                    predicate: ix.predicate.map(|p| normalise(&tokens(&p))),
                },
            );
        }
    }

    // User triggers (foreign keys' own are internal); `tgtype` bits from pg_trigger.h.
    let triggers: Vec<(String, i32, Vec<String>)> = sqlx::query_as(
        "SELECT c.relname::text, t.tgtype::int,
            ARRAY(SELECT a.attname::text FROM unnest(t.tgattr::int2[]) AS k(attnum)
                  JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum ORDER BY a.attname)
         FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND NOT t.tgisinternal",
    )
    .fetch_all(&mut *conn)
    .await?;
    const ROW: i32 = 1 << 0;
    const BEFORE: i32 = 1 << 1;
    const INSTEAD: i32 = 1 << 6;
    const EVENTS: &[(i32, &str)] = &[
        (1 << 2, "insert"),
        (1 << 3, "delete"),
        (1 << 4, "update"),
        (1 << 5, "truncate"),
    ];
    for (table, kind, columns) in triggers {
        let Some(t) = schema.tables.get_mut(&table) else {
            continue;
        };
        let timing = if kind & INSTEAD != 0 {
            "instead of"
        } else if kind & BEFORE != 0 {
            "before"
        } else {
            "after"
        };
        let orientation = if kind & ROW != 0 {
            "for each row"
        } else {
            "for each statement"
        };
        for (bit, event) in EVENTS {
            if kind & bit != 0 {
                let event = if *event == "update" && !columns.is_empty() {
                    format!("update of {}", columns.join(", "))
                } else {
                    (*event).to_owned()
                };
                t.triggers.insert(format!("{timing} {event}"), orientation.to_owned());
            }
        }
    }
    Ok(schema)
}

// ---------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn sqlite_and_postgres_migrations_agree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_schema(&dir.path().join("muster.db")).await;
    assert_complete("sqlite", &sqlite);

    let Some((url, _database)) = common::database(Backend::Postgres, dir.path()).await else {
        eprintln!(
            "note: PostgreSQL is not configured, so the migration sets were not compared \
             (MUSTER_TEST_POSTGRES=required runs it)"
        );
        return;
    };
    let postgres = postgres_schema(&url).await;
    assert_complete("postgres", &postgres);

    let differences = diff(&sqlite, &postgres);
    let allowed = |d: &Difference| {
        ALLOWED
            .iter()
            .find(|a| a.path == d.path && a.sqlite == d.sqlite.as_deref() && a.postgres == d.postgres.as_deref())
    };
    let unexpected: Vec<String> = differences
        .iter()
        .filter(|d| allowed(d).is_none())
        .map(ToString::to_string)
        .collect();
    for a in ALLOWED {
        assert!(
            differences.iter().any(|d| allowed(d).is_some_and(|m| m.path == a.path)),
            "ALLOWED lists `{}`, a difference that is no longer there: remove it",
            a.path
        );
        eprintln!("allowed: {}: {}", a.path, a.why);
    }
    assert!(
        unexpected.is_empty(),
        "the SQLite and PostgreSQL migrations disagree on {} fact(s):\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

/// The comparison itself, on a hand-made pair: every kind of difference is reported with
/// its table, its item and both sides.
#[test]
fn diff_names_the_table_the_item_and_both_sides() {
    let column = |ty: &str, nullable| Column {
        ty: ty.to_owned(),
        nullable,
    };
    let mut sqlite = Schema::default();
    let mut postgres = Schema::default();
    let mut s = Table::default();
    let mut p = Table::default();
    for t in [&mut s, &mut p] {
        t.columns.insert("id".to_owned(), column("blob", false));
        t.primary_key = vec!["id".to_owned()];
    }
    s.columns.insert("at".to_owned(), column("text", false));
    p.columns.insert("at".to_owned(), column("integer", true));
    s.indexes.insert(
        "t_at".to_owned(),
        Index {
            columns: vec!["at".to_owned()],
            unique: false,
            method: "btree".to_owned(),
            predicate: Some("at is not null".to_owned()),
        },
    );
    p.foreign_keys.insert(
        (vec!["id".to_owned()], "other".to_owned()),
        ForeignKey {
            columns: vec!["id".to_owned()],
            on_delete: "cascade".to_owned(),
            on_update: "no action".to_owned(),
        },
    );
    s.checks.insert("at <> ''".to_owned());
    sqlite.tables.insert("t".to_owned(), s);
    postgres.tables.insert("t".to_owned(), p);
    postgres.tables.insert("only_pg".to_owned(), Table::default());

    let found = diff(&sqlite, &postgres);
    let some = |s: &str| Some(s.to_owned());
    let expected = vec![
        Difference {
            path: "only_pg".to_owned(),
            sqlite: None,
            postgres: some("table"),
        },
        Difference {
            path: "t: check at <> ''".to_owned(),
            sqlite: some("check"),
            postgres: None,
        },
        Difference {
            path: "t: column at".to_owned(),
            sqlite: some("text not null"),
            postgres: some("integer null"),
        },
        Difference {
            path: "t: foreign key (id) -> other".to_owned(),
            sqlite: None,
            postgres: some("references (id) on delete cascade on update no action"),
        },
        Difference {
            path: "t: index t_at".to_owned(),
            sqlite: some("(at) where at is not null"),
            postgres: None,
        },
    ];
    assert_eq!(found, expected);
    assert_eq!(
        found[2].to_string(),
        "t: column at\n    sqlite:   text not null\n    postgres: integer null"
    );
    assert!(diff(&sqlite, &sqlite).is_empty(), "a schema agrees with itself");
}

/// PostgreSQL's deparsed expressions and SQLite's DDL text reach the same normal form.
#[test]
fn expressions_normalise_alike() {
    let pg = |s: &str| {
        let mut t = tokens(s);
        if t.first() == Some(&Word("check".to_owned())) {
            t.remove(0);
        }
        normalise(&t)
    };
    assert_eq!(
        pg("CHECK ((role = ANY (ARRAY['employee'::text, 'it''s'::text])))"),
        "role in ('employee', 'it''s')"
    );
    assert_eq!(
        normalise(&tokens("role IN ('employee', 'it''s')")),
        "role in ('employee', 'it''s')"
    );
    assert_eq!(pg("CHECK ((kind <> ALL (ARRAY['a'::text])))"), "kind not in ('a')");
    assert_eq!(pg("CHECK ((version >= 1))"), "version >= 1");
    assert_eq!(pg("(status <> 'deleted'::text)"), "status <> 'deleted'");
    assert_eq!(
        pg("(at > '2020-01-01 00:00:00+00'::timestamp with time zone)"),
        "at > '2020-01-01 00:00:00+00'"
    );
    assert_eq!(
        normalise(&tokens("location_removed_at IS NULL")),
        "location_removed_at is null"
    );
}

/// What SQLite keeps only as DDL is read past comments and string literals.
#[test]
fn sqlite_ddl_is_read_past_comments() {
    let table = "CREATE TABLE t (
        id BLOB PRIMARY KEY,
        -- a comment: check (nothing) here, and (parentheses
        kind TEXT NOT NULL CHECK (kind IN ('a', 'b -- c')), /* check (x > 1) */
        n INTEGER CHECK (n >= 0),
        CONSTRAINT t_kind_n_unique UNIQUE (kind, n),
        UNIQUE (id, kind)
    ) STRICT";
    assert_eq!(sqlite_checks(table), ["kind in ('a', 'b -- c')", "n >= 0"]);
    assert_eq!(
        sqlite_unique_names(table),
        BTreeMap::from([(vec!["kind".to_owned(), "n".to_owned()], "t_kind_n_unique".to_owned())])
    );
    assert_eq!(
        sqlite_index_predicate("CREATE INDEX i ON t (lower(kind), n) WHERE n IS NOT NULL AND kind <> 'x'"),
        Some("n is not null and kind <> 'x'".to_owned())
    );
    assert_eq!(sqlite_index_predicate("CREATE INDEX i ON t (kind)"), None);
    assert_eq!(
        sqlite_trigger_event("CREATE TRIGGER t_no_delete BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END"),
        Some("before delete".to_owned())
    );
    assert_eq!(
        sqlite_trigger_event("CREATE TRIGGER IF NOT EXISTS main.x AFTER UPDATE OF n, kind ON t BEGIN SELECT 1; END"),
        Some("after update of kind, n".to_owned())
    );
    assert_eq!(
        sqlite_trigger_event("CREATE TEMP TRIGGER x INSERT ON t BEGIN SELECT 1; END"),
        Some("before insert".to_owned())
    );
}
