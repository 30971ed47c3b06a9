//! Version numbers of migration files: UTC timestamps that only go up.

/// The current UTC time as `YYYYMMDDHHMMSS`.
pub(super) fn current_version() -> u64 {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    year * 10_000_000_000
        + month * 100_000_000
        + day * 1_000_000
        + rest / 3600 * 10_000
        + rest % 3600 / 60 * 100
        + rest % 60
}

/// A version after every existing one, even when the clock says otherwise.
pub(super) fn next_version(now: u64, latest: Option<u64>) -> u64 {
    match latest {
        Some(latest) if latest >= now => latest + 1,
        _ => now,
    }
}

/// `YYYYMMDDHHMMSS` as diesel's CLI writes versions: `YYYY-MM-DD-HHMMSS`.
pub(super) fn dashed(version: u64) -> String {
    let digits = format!("{version:014}");
    format!("{}-{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8], &digits[8..])
}

/// The `YYYYMMDDHHMMSS` of a diesel-style version (`2026-11-30-132500` or
/// `20261130132500`), `None` for versions of another shape.
pub(super) fn undashed(version: &str) -> Option<u64> {
    let digits: String = version.chars().filter(|c| *c != '-').collect();
    (digits.len() == 14 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    }

    #[test]
    fn versions_only_go_up() {
        assert_eq!(next_version(20_261_125_093_000, None), 20_261_125_093_000);
        assert_eq!(next_version(20_261_125_093_000, Some(20_261_125_093_000)), 20_261_125_093_001);
        assert_eq!(next_version(20_261_125_093_000, Some(1)), 20_261_125_093_000);
    }

    #[test]
    fn diesel_versions_round_trip() {
        assert_eq!(dashed(20_261_130_132_500), "2026-11-30-132500");
        assert_eq!(undashed("2026-11-30-132500"), Some(20_261_130_132_500));
        assert_eq!(undashed("00000000000000"), Some(0));
        assert_eq!(undashed("2026-11-30"), None);
    }
}
