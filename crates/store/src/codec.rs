//! Conversions between the pbx models and column values, shared by the backends: what a
//! column holds is decided here once, so SQLite and PostgreSQL store the same text.

use std::net::IpAddr;

use pbx::{DigestAlgorithm, Secret, StoreError};

/// The longest piece of a stored value quoted in a [`StoreError::Corrupt`] message.
const QUOTE_MAX: usize = 40;

/// Maps a driver error. Rows that cannot be decoded are [`StoreError::Corrupt`]; everything
/// else is [`StoreError::Backend`]. The driver's text names tables, columns and constraints,
/// never bound values, so no secret reaches it.
pub(crate) fn sqlx_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Maps a migration failure.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => sqlx_error(e),
        e => StoreError::Backend(format!("migration: {e}")),
    }
}

/// A stored value, shortened for an error message.
fn quote(s: &str) -> String {
    s.chars().take(QUOTE_MAX).collect()
}

/// The `digest` column: tokens in challenge order, comma-separated (`SHA-256,MD5`).
pub(crate) fn digest_to_column(list: &[DigestAlgorithm]) -> String {
    let tokens: Vec<&str> = list.iter().map(|a| a.as_str()).collect();
    tokens.join(",")
}

/// Reads the `digest` column back; an empty column is an empty list.
pub(crate) fn digest_from_column(s: &str) -> Result<Vec<DigestAlgorithm>, StoreError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|t| {
            DigestAlgorithm::parse(t).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown digest algorithm {:?}", quote(t)))
            })
        })
        .collect()
}

/// The admin credential from its two columns: both set or both NULL.
pub(crate) fn admin_from_columns(
    domain: &str,
    md5: Option<String>,
    sha256: Option<String>,
) -> Result<Option<Secret>, StoreError> {
    match (md5, sha256) {
        (Some(md5), Some(sha256)) => Ok(Some(Secret { md5, sha256 })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(format!(
            "domain {:?}: admin credential has only one of its HA1 values",
            quote(domain)
        ))),
    }
}

/// Unix seconds as a column value. Values past `i64::MAX` (year 292 billion) are saturated:
/// one absurd expiry must not make every later checkpoint fail.
pub(crate) fn seconds_to_column(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Reads back an unsigned column value.
pub(crate) fn u64_from_column(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {v}")))
}

/// Reads back a `u32` column value.
pub(crate) fn u32_from_column(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {v}")))
}

/// Reads back a port.
pub(crate) fn port_from_column(v: i64) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| StoreError::Corrupt(format!("remote_port out of range: {v}")))
}

/// Reads back an IP address (stored in its `Display` form).
pub(crate) fn ip_from_column(s: &str) -> Result<IpAddr, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("invalid remote_ip {:?}", quote(s))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_lists() {
        use DigestAlgorithm::{Md5, Sha256};
        for list in [vec![], vec![Md5], vec![Sha256, Md5], vec![Md5, Sha256]] {
            assert_eq!(
                digest_from_column(&digest_to_column(&list)).expect("round trip"),
                list
            );
        }
        assert_eq!(digest_to_column(&[Sha256, Md5]), "SHA-256,MD5");
        assert!(matches!(
            digest_from_column("MD5,SHA-512"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(digest_from_column("MD5,").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(seconds_to_column(u64::MAX), i64::MAX);
        assert_eq!(seconds_to_column(1_700_000_000), 1_700_000_000);
        assert!(u64_from_column(-1, "expires_at").is_err());
        assert_eq!(
            u32_from_column(i64::from(u32::MAX), "cseq").ok(),
            Some(u32::MAX)
        );
        assert!(u32_from_column(i64::from(u32::MAX) + 1, "cseq").is_err());
        assert!(port_from_column(65_536).is_err());
        assert_eq!(port_from_column(5060).ok(), Some(5060));
    }

    #[test]
    fn admin_columns() {
        assert_eq!(admin_from_columns("d", None, None).ok(), Some(None));
        assert!(admin_from_columns("d", Some("a".into()), None).is_err());
        let s = admin_from_columns("d", Some("a".into()), Some("b".into()));
        assert!(matches!(s, Ok(Some(Secret { .. }))));
    }

    #[test]
    fn ips() {
        assert!(ip_from_column("::1").is_ok());
        assert!(ip_from_column("192.0.2.1").is_ok());
        assert!(ip_from_column("nope").is_err());
    }
}
