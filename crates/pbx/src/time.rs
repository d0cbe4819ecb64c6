//! Wall-clock formatting. The time itself is always an input (Unix seconds).

/// `Sat, 13 Nov 2010 23:29:00 GMT` (RFC 3261 section 20.17, RFC 1123 in GMT).
pub fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The UTC calendar date of a Unix time: (year, month 1..=12, day 1..=31).
pub(crate) fn utc_date(unix: u64) -> (u64, u64, u64) {
    civil_from_days(unix / 86_400)
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's civil-from-days algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The name of a UTC day (a Unix day number, `unix / 86400`) in the 9P tree: `YYYY_MM_DD`.
pub(crate) fn day_name(day: u64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}_{m:02}_{d:02}")
}

/// The Unix day number of a `YYYY_MM_DD` name; `None` unless `name` is exactly the name
/// [`day_name`] gives that day (no other spelling of a date, nothing before 1970).
pub(crate) fn parse_day_name(name: &str) -> Option<u64> {
    let b = name.as_bytes();
    if b.len() != 10 || b[4] != b'_' || b[7] != b'_' {
        return None;
    }
    let num = |s: &str| -> Option<u64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(&name[..4])?, num(&name[5..7])?, num(&name[8..])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // H. Hinnant's days-from-civil, for years from 1 on.
    let y = y.checked_sub(u64::from(m <= 2))?;
    let era = y / 400;
    let yoe = y % 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = (era * 146_097 + doe).checked_sub(719_468)?;
    // 2026_02_30 would land on a day of March: refuse what does not name itself.
    (day_name(day) == name).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_names_round_trip() {
        assert_eq!(day_name(0), "1970_01_01");
        assert_eq!(day_name(1_795_543_261 / 86_400), "2026_11_24");
        for day in (0..80_000).step_by(7).chain([11_016, 11_017, 11_018]) {
            assert_eq!(parse_day_name(&day_name(day)), Some(day), "{day}");
        }
        for bad in [
            "2026_02_30",
            "2026_13_01",
            "2026_00_10",
            "2026-11-24",
            "1969_12_31",
            "2026_11_2",
            "+026_11_24",
            "2026_11_24x",
            "",
        ] {
            assert_eq!(parse_day_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_289_690_940), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_795_543_261), "Tue, 24 Nov 2026 18:01:01 GMT");
    }
}
