//! Event time checked against receive time (contract §1): a contact stamped more than
//! `limits.max_future_s` after it was received, or more than `limits.max_age_s` before, is
//! rejected (`future_time`, `stale_time`) before it reaches the engine, so it moves no clock.
//!
//! Why here, in the decoder: event time drives everything downstream (prediction, track
//! deletion, the loiter window, alert clearing). One radar message stamped a year ahead made
//! the engine's clock jump a year: every track expired, every later contact was out of
//! sequence, and the coast was blind for the rest of the night, silently. Nothing past this
//! point may ever see such a time. The check is per contact: a plot's own `t` (or the scan's
//! `t` it inherits), an AIS report's time (its `t`, the receiver's time field, or a tag
//! block's `c:`). Static AIS reports carry no time and pass.

use super::DecodeError;
use crate::contact::{AisReport, Decoded};
use crate::time::EventTime;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeWindow {
    max_future_us: i64,
    max_age_us: i64,
    max_future_s: f64,
    max_age_s: f64,
}

impl TimeWindow {
    pub fn new(max_future_s: f64, max_age_s: f64) -> Self {
        TimeWindow {
            max_future_us: (max_future_s * 1e6) as i64,
            max_age_us: (max_age_s * 1e6) as i64,
            max_future_s,
            max_age_s,
        }
    }

    /// Accepts nothing stamped before `t_rx - max_age` or after `t_rx + max_future`.
    pub fn check(&self, t: EventTime, t_rx: EventTime, index: usize) -> Result<(), DecodeError> {
        let ahead = t.0.saturating_sub(t_rx.0);
        if ahead > self.max_future_us {
            return Err(DecodeError::FutureTime {
                index,
                ahead_s: ahead as f64 * 1e-6,
                max_s: self.max_future_s,
            });
        }
        if ahead < -self.max_age_us {
            return Err(DecodeError::StaleTime {
                index,
                behind_s: -(ahead as f64) * 1e-6,
                max_s: self.max_age_s,
            });
        }
        Ok(())
    }

    /// Removes every contact of `d` whose time fails the check, each rejection pushed to
    /// `rejects`. A message left with nothing (all its contacts rejected, or a plot-less
    /// scan with a bad time) is an `Err` carrying its last rejection, so that it is not
    /// taken for an empty scan, which would move the clock.
    pub fn apply(
        &self,
        d: &mut Decoded,
        t_rx: EventTime,
        rejects: &mut Vec<DecodeError>,
    ) -> Result<(), DecodeError> {
        let first = rejects.len();
        match d {
            Decoded::Radar(scan) => {
                let scan_ok = self.check(scan.t, t_rx, 0);
                if scan.plots.is_empty() {
                    return scan_ok;
                }
                let mut index = 0;
                scan.plots.retain(|p| {
                    let r = self.check(p.t, t_rx, index);
                    index += 1;
                    r.map_err(|e| rejects.push(e)).is_ok()
                });
                if scan_ok.is_err() {
                    // The scan's own time is wrong: what is left carries its own good
                    // times, and the latest of them stands for the scan.
                    if let Some(t) = scan.plots.iter().map(|p| p.t).max() {
                        scan.t = t;
                    }
                }
                if scan.plots.is_empty() {
                    return Err(rejects.pop().expect("every plot was rejected"));
                }
            }
            Decoded::Ais(batch) => {
                if batch.reports.is_empty() {
                    return Ok(());
                }
                let mut index = 0;
                batch.reports.retain(|r| {
                    let i = index;
                    index += 1;
                    match r {
                        AisReport::Position(p) => self
                            .check(p.t, t_rx, i)
                            .map_err(|e| rejects.push(e))
                            .is_ok(),
                        AisReport::Static(_) => true,
                    }
                });
                if batch.reports.is_empty() && rejects.len() > first {
                    return Err(rejects.pop().expect("a report was rejected"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{AisBatch, AisPosition, AisStatic, Plot, PlotPos, RadarScan};

    const S: i64 = 1_000_000;

    fn plot(t: i64) -> Plot {
        Plot {
            t: EventTime(t),
            pos: PlotPos::Polar {
                range_m: 1000.0,
                bearing_deg: 10.0,
            },
        }
    }

    fn position(t: i64) -> AisReport {
        AisReport::Position(AisPosition {
            t: EventTime(t),
            msg_type: 1,
            mmsi: 227006760,
            lat: 50.7,
            lon: 1.5,
            sog_kn: None,
            cog_deg: None,
            heading_deg: None,
            status: None,
        })
    }

    #[test]
    fn limits_either_side_of_receive_time() {
        let w = TimeWindow::new(5.0, 600.0);
        let rx = EventTime(1_000 * S);
        assert!(w.check(EventTime(1_005 * S), rx, 0).is_ok());
        assert!(w.check(EventTime(400 * S), rx, 0).is_ok());
        let e = w.check(EventTime(1_005 * S + 1), rx, 3).unwrap_err();
        assert_eq!((e.reason(), e.is_per_sensor()), ("future_time", true));
        let e = w.check(EventTime(400 * S - 1), rx, 0).unwrap_err();
        assert_eq!(e.reason(), "stale_time");
        // Absurd times both ways neither overflow nor pass.
        assert!(w.check(EventTime(i64::MAX), rx, 0).is_err());
        assert!(w.check(EventTime(i64::MIN), rx, 0).is_err());
        assert!(w.check(EventTime(0), EventTime(i64::MIN), 0).is_err());
    }

    #[test]
    fn bad_plots_go_and_a_scan_with_a_bad_time_keeps_only_plots_with_good_times_of_their_own() {
        let w = TimeWindow::new(5.0, 600.0);
        let rx = EventTime(1_000 * S);
        let year = 365 * 86_400 * S;
        let mut d = Decoded::Radar(RadarScan {
            sensor: 0,
            t: EventTime(1_000 * S),
            plots: vec![plot(1_000 * S), plot(1_000 * S + year), plot(999 * S)],
            exercise: false,
        });
        let mut rejects = vec![];
        w.apply(&mut d, rx, &mut rejects).unwrap();
        let Decoded::Radar(scan) = &d else { panic!() };
        assert_eq!(scan.plots.len(), 2);
        assert_eq!(rejects.len(), 1);
        assert!(matches!(
            rejects[0],
            DecodeError::FutureTime { index: 1, .. }
        ));
        // A scan a year ahead: its inherited plot times go; one plot with its own good time
        // stays, and the scan takes its time.
        let mut d = Decoded::Radar(RadarScan {
            sensor: 0,
            t: EventTime(1_000 * S + year),
            plots: vec![plot(1_000 * S + year), plot(999 * S)],
            exercise: false,
        });
        rejects.clear();
        w.apply(&mut d, rx, &mut rejects).unwrap();
        let Decoded::Radar(scan) = &d else { panic!() };
        assert_eq!((scan.plots.len(), scan.t), (1, EventTime(999 * S)));
        // Nothing left: an error, never an empty scan that would move the clock.
        for plots in [vec![plot(1_000 * S + year)], vec![]] {
            let mut d = Decoded::Radar(RadarScan {
                sensor: 0,
                t: EventTime(1_000 * S + year),
                plots,
                exercise: false,
            });
            rejects.clear();
            let e = w.apply(&mut d, rx, &mut rejects).unwrap_err();
            assert_eq!(e.reason(), "future_time");
            assert!(rejects.is_empty());
        }
    }

    #[test]
    fn ais_positions_are_checked_and_static_reports_pass() {
        let w = TimeWindow::new(5.0, 600.0);
        let rx = EventTime(10_000 * S);
        let stat = AisReport::Static(AisStatic {
            msg_type: 5,
            mmsi: 1,
            ..Default::default()
        });
        let mut d = Decoded::Ais(AisBatch {
            reports: vec![position(10_000 * S), position(100 * S), stat],
            exercise: false,
        });
        let mut rejects = vec![];
        w.apply(&mut d, rx, &mut rejects).unwrap();
        assert_eq!(d.contacts(), 2);
        assert_eq!(rejects[0].reason(), "stale_time");
        let mut d = Decoded::Ais(AisBatch {
            reports: vec![position(100 * S)],
            exercise: false,
        });
        rejects.clear();
        assert_eq!(
            w.apply(&mut d, rx, &mut rejects).unwrap_err().reason(),
            "stale_time"
        );
    }
}
