//! The schema migrations, embedded in the binary.
//!
//! The SQL files live in `crates/store/migrations/`, named as sqlx's own tools expect
//! (`<version>_<description>.sql`), and are applied by sqlx's migrator, which records them in
//! its `_sqlx_migrations` table and refuses to start on a database whose applied migrations
//! were since edited. They are listed here by hand rather than with `sqlx::migrate!`: the macro
//! needs sqlx's `macros` feature, and with it a proc-macro build of the SQLite driver (a second
//! compile of the bundled C library). A new migration is a new file and a new line below, never
//! an edit of an old one.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration, oldest first: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "directory and location",
        include_str!("../migrations/0001_directory_and_location.sql"),
    ),
    (2, "cdrs", include_str!("../migrations/0002_cdrs.sql")),
    (
        3,
        "domain_latching",
        include_str!("../migrations/0003_domain_latching.sql"),
    ),
];

/// The migrator for [`MIGRATIONS`].
pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}
