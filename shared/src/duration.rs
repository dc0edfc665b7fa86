//! Durations as Kubernetes and Flux write them: Go duration strings such as "5m", "1h30m", "90s".

use std::time::Duration;

/// Parses a Go-style duration as Flux accepts it in HelmRelease intervals and timeouts: one or more
/// `<number><unit>` parts, units `ms`, `s`, `m`, `h`, numbers with an optional fraction.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration; write it like \"5m\" or \"1h30m\"".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        // NB: nearly every duration is a whole number ("5m"), and reading an integer is several
        // times cheaper than reading a float; admission reads two per application.
        let value = match number.parse::<u32>() {
            Ok(whole) => f64::from(whole),
            Err(_) => number
                .parse::<f64>()
                .ok()
                .filter(|_| !number.starts_with('.') && !number.ends_with('.'))
                .ok_or_else(|| invalid(text))?,
        };
        let seconds_per_unit = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid(text)),
        };
        total += value * seconds_per_unit;
        rest = next;
    }
    if total > u32::MAX as f64 {
        return Err(format!("duration {text:?} is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

fn invalid(text: &str) -> String {
    format!(
        "invalid duration {text:?}: use numbers with units ms, s, m or h, like \"5m\" or \"1h30m\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0.25h1s"), Ok(Duration::from_secs(901)));
    }

    #[test]
    fn numbers_too_large_for_the_whole_number_path_still_parse() {
        assert_eq!(
            parse("4294967295s"),
            Ok(Duration::from_secs(u64::from(u32::MAX)))
        );
        let err = parse("4294967296s").expect_err("over u32::MAX seconds");
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn malformed_durations_are_refused_with_the_reason() {
        for bad in ["", "5", "m", "5 m", "5d", "-5m", ".5s", "5.s", "1e3s"] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }
}
