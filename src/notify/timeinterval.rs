//! A *mute time interval*: named days and times of day (in UTC, a fixed offset or a named time
//! zone such as `Europe/Berlin`, daylight saving included) during
//! which a route sends nothing — for example warnings at night and at weekends. Notifications
//! held by one are recorded as `suppressed` and sent when the interval ends, if still firing.

use crate::notify::TimeIntervalConfig;

crate::error::message_error! {
    /// A time interval that does not parse.
    pub(crate) IntervalError
}

/// A compiled time interval.
#[derive(Clone, Debug)]
pub(crate) struct TimeInterval {
    days: [bool; 7],
    ranges: Vec<(u32, u32)>,
    offset: crate::config::Zone,
}

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

fn day(s: &str) -> Result<usize, IntervalError> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("unknown weekday {s:?}"))
        .map_err(IntervalError::from)
}

fn minutes(s: &str) -> Result<u32, IntervalError> {
    let (h, m) = s.trim().split_once(':').ok_or_else(|| format!("time {s:?} is not HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("time {s:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("time {s:?} is not HH:MM"))?,
    );
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(IntervalError::from(format!("time {s:?} is out of range")));
    }
    Ok(h * 60 + m)
}

impl TimeInterval {
    /// Compiles one interval.
    pub(crate) fn compile(c: &TimeIntervalConfig) -> Result<TimeInterval, IntervalError> {
        let mut days = [c.weekdays.is_empty(); 7];
        for w in &c.weekdays {
            match w.split_once(':') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut i = a;
                    loop {
                        days[i] = true;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => days[day(w)?] = true,
            }
        }
        let ranges = c
            .times
            .iter()
            .map(|t| Ok((minutes(&t.start_time)?, minutes(&t.end_time)?)))
            .collect::<Result<Vec<_>, IntervalError>>()?;
        let offset = crate::config::Zone::parse(&c.location).map_err(|e| format!("location: {e}"))?;
        Ok(TimeInterval { days, ranges, offset })
    }

    /// Whether `ts_ms` falls inside.
    pub(crate) fn contains(&self, ts_ms: i64) -> bool {
        let Some((wd, hour, minute)) = self.offset.local(ts_ms) else { return false };
        let wd = wd as usize;
        let min = hour * 60 + minute;
        if self.ranges.is_empty() {
            return self.days[wd];
        }
        self.ranges.iter().any(|&(s, e)| {
            if s <= e {
                self.days[wd] && min >= s && min < e
            } else {
                // Wraps past midnight: the early part belongs to the day the range started.
                (self.days[wd] && min >= s) || (self.days[(wd + 6) % 7] && min < e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::TimeRangeConfig;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn nights_on_weekdays_and_whole_weekends() {
        let nights = TimeInterval::compile(&TimeIntervalConfig {
            name: "nights".into(),
            weekdays: vec!["monday:friday".into()],
            times: vec![TimeRangeConfig { start_time: "22:00".into(), end_time: "07:00".into() }],
            location: String::new(),
        })
        .unwrap();
        // 2026-11-23 is a Monday.
        assert!(nights.contains(at("2026-11-23T23:00:00Z")));
        assert!(nights.contains(at("2026-11-24T06:59:00Z")), "Tuesday early belongs to Monday night");
        assert!(!nights.contains(at("2026-11-24T07:00:00Z")));
        assert!(!nights.contains(at("2026-11-23T06:00:00Z")), "Monday early belongs to Sunday");
        let weekend = TimeInterval::compile(&TimeIntervalConfig {
            name: "w".into(),
            weekdays: vec!["saturday".into(), "sunday".into()],
            location: "+02:00".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(weekend.contains(at("2026-11-28T12:00:00Z")));
        assert!(weekend.contains(at("2026-11-27T22:30:00Z")), "Saturday already at +02:00");
        assert!(!weekend.contains(at("2026-11-27T12:00:00Z")));
        assert!(
            TimeInterval::compile(&TimeIntervalConfig { weekdays: vec!["funday".into()], ..Default::default() })
                .is_err()
        );
    }

    #[test]
    fn a_named_zone_keeps_office_hours_across_daylight_saving() {
        let office = TimeInterval::compile(&TimeIntervalConfig {
            name: "office".into(),
            weekdays: vec!["monday:friday".into()],
            times: vec![TimeRangeConfig { start_time: "09:00".into(), end_time: "17:00".into() }],
            location: "Europe/Berlin".into(),
        })
        .unwrap();
        // 09:00 in Berlin: 08:00 UTC in winter, 07:00 UTC in summer.
        assert!(office.contains(at("2026-01-15T08:00:00Z")) && !office.contains(at("2026-01-15T07:59:00Z")));
        assert!(office.contains(at("2026-07-15T07:00:00Z")) && !office.contains(at("2026-07-15T06:59:00Z")));
        let bad = TimeIntervalConfig { location: "Berlin".into(), ..Default::default() };
        assert!(TimeInterval::compile(&bad).unwrap_err().to_string().contains("Europe/Berlin"));
    }
}
