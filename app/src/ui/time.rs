//! Times are shown relative ("3 hours ago") with the exact UTC time in a tooltip. Both are
//! computed on the server, which has a clock; the browser build does not need one.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    pub iso: String,
    pub ago: String,
}

#[cfg(feature = "ssr")]
pub fn rfc3339(t: time::OffsetDateTime) -> Stamp {
    use time::format_description::well_known::Rfc3339;
    let t = t.to_offset(time::UtcOffset::UTC);
    let iso = t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_default();
    Stamp { iso, ago: ago(time::OffsetDateTime::now_utc() - t) }
}

#[cfg(feature = "ssr")]
fn ago(d: time::Duration) -> String {
    let s = d.whole_seconds();
    if s <= -45 {
        // The future is rounded to the nearest unit: a 72-hour link "expires in 3 days".
        let f = -s;
        let (n, unit) = match f {
            ..=3_599 => ((f + 30) / 60, "minute"),
            3_600..=86_399 => ((f + 1_800) / 3_600, "hour"),
            _ => ((f + 43_200) / 86_400, "day"),
        };
        return format!("in {n} {unit}{}", if n == 1 { "" } else { "s" });
    }
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match s {
        i64::MIN..=44 => "just now".into(),
        45..=3599 => plural((s / 60).max(1), "minute"),
        3600..=86_399 => plural(s / 3600, "hour"),
        86_400..=2_591_999 => plural(s / 86_400, "day"),
        2_592_000..=31_535_999 => plural(s / 2_592_000, "month"),
        _ => plural(s / 31_536_000, "year"),
    }
}

#[component]
pub fn Time(stamp: Stamp) -> impl IntoView {
    let title = format!("{} UTC", stamp.iso.replace('T', " ").trim_end_matches('Z'));
    view! { <time datetime=stamp.iso title=title>{stamp.ago}</time> }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ago;
    use time::Duration;

    #[test]
    fn past_and_future_read_naturally() {
        assert_eq!(ago(Duration::seconds(10)), "just now");
        assert_eq!(ago(Duration::minutes(5)), "5 minutes ago");
        assert_eq!(ago(Duration::hours(26)), "1 day ago");
        assert_eq!(ago(-Duration::minutes(30) + Duration::seconds(2)), "in 30 minutes");
        assert_eq!(ago(-Duration::hours(72) + Duration::seconds(5)), "in 3 days");
        assert_eq!(ago(-Duration::hours(1)), "in 1 hour");
    }
}
