//! The directory: domains (accounts) and their users, as the registrar and the HTTP API see
//! them. It lives in memory (the seed's "think memcache": SIP never waits on a database); the
//! [`Store`](crate::Store) makes it durable, and every change goes to the store first.

use std::collections::HashMap;
use std::fmt;

/// A digest algorithm a domain offers in its challenges (RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// MD5: what every phone speaks, the default.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl DigestAlgorithm {
    /// The token used on the wire and in the API (`"MD5"`, `"SHA-256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Parses the token, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Self::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is kept of a password: the digest HA1 values, `H(username:realm:password)`, for each
/// algorithm a domain may offer. The realm is the domain, so these never need the password
/// again; the password itself is never stored, logged or returned.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// MD5 HA1, lowercase hex.
    pub md5: String,
    /// SHA-256 HA1, lowercase hex.
    pub sha256: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HA1 values are password equivalents for their realm: never print them.
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// The HA1 values of `password` for `user` in `realm` (the domain); `None` for an empty
    /// password, which is never accepted.
    pub fn from_password(user: &str, realm: &str, password: &str) -> Option<Self> {
        use sip::digest::{Algorithm, ha1};
        (!password.is_empty()).then(|| Self {
            md5: ha1(Algorithm::Md5, user, realm, password),
            sha256: ha1(Algorithm::Sha256, user, realm, password),
        })
    }

    /// The HA1 for `alg`.
    pub fn ha1(&self, alg: DigestAlgorithm) -> &str {
        match alg {
            DigestAlgorithm::Md5 => &self.md5,
            DigestAlgorithm::Sha256 => &self.sha256,
        }
    }
}

/// A domain: a SIP domain and an account of the PBX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The name, lowercase, without port (DESIGN.md section 15).
    pub name: String,
    /// Where registration and call webhooks go (`http://...`), if anywhere.
    pub control: Option<String>,
    /// The algorithms offered in challenges, in order (RFC 8760: the preferred first).
    pub digest: Vec<DigestAlgorithm>,
    /// The account admin's credential (9P `admin@<domain>`), if set.
    pub admin: Option<Secret>,
    /// Where the media relay accepts this domain's phones' media from.
    pub latching: Latching,
}

/// Which sources the media relay latches onto for a domain's calls (DESIGN.md section 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latching {
    /// Only the leg's signalling IP or its SDP address (any port): a stranger cannot take
    /// the stream (RTP bleed, CVE-2017-14099).
    #[default]
    Strict,
    /// Any source: for peers whose media comes from elsewhere than their signalling.
    Any,
}

impl Latching {
    /// `"strict"` or `"any"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Any => "any",
        }
    }

    /// Parses `"strict"` or `"any"` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Some(Self::Strict),
            "any" => Some(Self::Any),
            _ => None,
        }
    }
}

impl Domain {
    /// A domain with the defaults: no control URL, MD5 only, no admin.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            control: None,
            digest: vec![DigestAlgorithm::Md5],
            admin: None,
            latching: Latching::Strict,
        }
    }
}

/// A user (an extension) of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user part, as phones write it in their To/From URIs.
    pub name: String,
    /// The credential.
    pub secret: Secret,
}

/// User names that the 9P tree reserves (DESIGN.md section 15).
pub const RESERVED_USER_NAMES: &[&str] = &[
    "admin",
    "cdr",
    "call_recordings",
    "presence",
    "ctl",
    "credential",
    "ongoing",
    "uacs",
];

/// Why a name cannot be a domain or a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty, too long, or characters outside what a SIP host or user part allows.
    #[error("invalid {what} name {name:?}")]
    Invalid {
        /// "domain" or "user".
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// One of [`RESERVED_USER_NAMES`].
    #[error("user name {0:?} is reserved")]
    Reserved(String),
}

/// Checks a domain name: a host name or IP literal, at most 253 bytes. Returns it lowercased.
pub fn check_domain_name(name: &str) -> Result<String, NameError> {
    let ok = !name.is_empty() && name.len() <= 253 && sip::Host::parse(name).is_some();
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(NameError::Invalid {
            what: "domain",
            name: name.chars().take(64).collect(),
        })
    }
}

/// Checks a user name: 1 to 64 characters of RFC 3261 `unreserved` (alphanumerics and
/// `-_.!~*'()`) or `+`, and not reserved. Names are case-sensitive, like SIP user parts.
pub fn check_user_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b));
    if !ok {
        return Err(NameError::Invalid {
            what: "user",
            name: name.chars().take(64).collect(),
        });
    }
    if RESERVED_USER_NAMES.contains(&name) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// One domain and its users, as held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEntry {
    /// The domain.
    pub domain: Domain,
    /// Its users by name.
    pub users: HashMap<String, User>,
    /// This domain's serial: see [`Directory::serial`].
    pub serial: u64,
    /// Each user's serial.
    serials: HashMap<String, u64>,
}

impl DomainEntry {
    /// The serial of a user: see [`Directory::serial`].
    pub fn user_serial(&self, user: &str) -> Option<u64> {
        self.serials.get(user).copied()
    }
}

/// All domains and users, in memory.
///
/// Each domain and each user gets a serial when it is created, unique for the life of the
/// process: one deleted and created again under the same name gets a new one. The 9P tree
/// builds its qid paths from them, so a new file never takes an old file's identity.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    domains: HashMap<String, DomainEntry>,
    last_serial: u64,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A domain and its users.
    pub fn domain(&self, name: &str) -> Option<&DomainEntry> {
        self.domains.get(&name.to_ascii_lowercase())
    }

    /// A user of a domain.
    pub fn user(&self, domain: &str, user: &str) -> Option<(&Domain, &User)> {
        let d = self.domain(domain)?;
        Some((&d.domain, d.users.get(user)?))
    }

    /// The last serial given out. It grows whenever a domain or a user is created and never
    /// goes back, so (this, the number of users of a domain, the domain's serial) changes
    /// whenever the domain's set of users does: the 9P tree keys cached listings with it.
    pub fn last_serial(&self) -> u64 {
        self.last_serial
    }

    /// The number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Every domain name.
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    /// Creates or replaces a domain. `users`: `Some` replaces the user list, `None` keeps the
    /// users it had. True when the domain was new.
    pub fn put_domain(&mut self, domain: Domain, users: Option<Vec<User>>) -> bool {
        let key = domain.name.clone();
        let created = !self.domains.contains_key(&key);
        if created {
            self.last_serial += 1;
            let entry = DomainEntry {
                domain: domain.clone(),
                users: HashMap::new(),
                serial: self.last_serial,
                serials: HashMap::new(),
            };
            self.domains.insert(key.clone(), entry);
        }
        let Some(entry) = self.domains.get_mut(&key) else {
            return created;
        };
        entry.domain = domain;
        if let Some(users) = users {
            entry.users = users.into_iter().map(|u| (u.name.clone(), u)).collect();
            entry
                .serials
                .retain(|name, _| entry.users.contains_key(name));
            for name in entry.users.keys() {
                if !entry.serials.contains_key(name) {
                    self.last_serial += 1;
                    entry.serials.insert(name.clone(), self.last_serial);
                }
            }
        }
        created
    }

    /// Removes a domain and its users; true when it existed.
    pub fn remove_domain(&mut self, name: &str) -> bool {
        self.domains.remove(&name.to_ascii_lowercase()).is_some()
    }

    /// Creates or replaces a user; `None` when the domain does not exist, else true when the
    /// user was new.
    pub fn put_user(&mut self, domain: &str, user: User) -> Option<bool> {
        let entry = self.domains.get_mut(&domain.to_ascii_lowercase())?;
        if !entry.serials.contains_key(&user.name) {
            self.last_serial += 1;
            entry.serials.insert(user.name.clone(), self.last_serial);
        }
        Some(entry.users.insert(user.name.clone(), user).is_none())
    }

    /// Removes a user; true when it existed.
    pub fn remove_user(&mut self, domain: &str, user: &str) -> bool {
        self.domains
            .get_mut(&domain.to_ascii_lowercase())
            .is_some_and(|e| {
                e.serials.remove(user);
                e.users.remove(user).is_some()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret {
            md5: "a".into(),
            sha256: "b".into(),
        }
    }

    #[test]
    fn put_and_replace() {
        let mut d = Directory::new();
        assert!(d.put_domain(
            Domain::new("Example.COM"),
            Some(vec![User {
                name: "1000".into(),
                secret: secret()
            }])
        ));
        assert!(d.user("example.com", "1000").is_some());
        // Replacing the domain without a user list keeps the users.
        assert!(!d.put_domain(Domain::new("example.com"), None));
        assert!(d.user("example.com", "1000").is_some());
        assert_eq!(
            d.put_user(
                "example.com",
                User {
                    name: "1001".into(),
                    secret: secret()
                }
            ),
            Some(true)
        );
        assert_eq!(
            d.put_user(
                "nowhere.test",
                User {
                    name: "1".into(),
                    secret: secret()
                }
            ),
            None
        );
        assert!(d.remove_user("example.com", "1000"));
        assert!(!d.remove_user("example.com", "1000"));
        assert!(d.remove_domain("EXAMPLE.com"));
    }

    /// Serials are never reused: not after a delete, not across domains; a replaced user or
    /// domain keeps its own.
    #[test]
    fn serials_are_never_reused() {
        let user = |name: &str| User {
            name: name.into(),
            secret: secret(),
        };
        let mut d = Directory::new();
        d.put_domain(
            Domain::new("a.example"),
            Some(vec![user("1000"), user("1001")]),
        );
        let entry = d.domain("a.example").expect("domain");
        let (domain, u1000, u1001) = (
            entry.serial,
            entry.user_serial("1000").expect("1000"),
            entry.user_serial("1001").expect("1001"),
        );
        let all = [domain, u1000, u1001];
        assert!(
            all.iter()
                .all(|s| all.iter().filter(|t| *t == s).count() == 1)
        );

        d.put_user("a.example", user("1000"));
        d.put_domain(Domain::new("a.example"), None);
        let entry = d.domain("a.example").expect("domain");
        assert_eq!(entry.serial, domain);
        assert_eq!(
            entry.user_serial("1000"),
            Some(u1000),
            "replaced, same user"
        );

        assert!(d.remove_user("a.example", "1000"));
        assert_eq!(
            d.domain("a.example").and_then(|e| e.user_serial("1000")),
            None
        );
        d.put_user("a.example", user("1000"));
        let again = d.domain("a.example").and_then(|e| e.user_serial("1000"));
        assert!(again.is_some_and(|s| s > u1001), "new serial: {again:?}");

        // A user list that drops 1001 and brings 1002.
        d.put_domain(
            Domain::new("a.example"),
            Some(vec![user("1000"), user("1002")]),
        );
        let entry = d.domain("a.example").expect("domain");
        assert_eq!(entry.user_serial("1000"), again);
        assert_eq!(entry.user_serial("1001"), None);
        assert!(entry.user_serial("1002") > again);

        assert!(d.remove_domain("a.example"));
        d.put_domain(Domain::new("a.example"), None);
        assert!(d.domain("a.example").is_some_and(|e| e.serial > domain));
    }

    #[test]
    fn names() {
        assert_eq!(
            check_domain_name("PBX.Example.com"),
            Ok("pbx.example.com".into())
        );
        assert!(check_domain_name("bad domain").is_err());
        assert!(check_user_name("1000").is_ok());
        assert!(check_user_name("alice.smith").is_ok());
        assert!(check_user_name("admin").is_err());
        assert!(check_user_name("a b").is_err());
        assert!(check_user_name("").is_err());
        assert!(format!("{:?}", secret()).contains(".."));
    }
}
