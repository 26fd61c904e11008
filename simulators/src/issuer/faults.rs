//! Response latency and fault injection: how long each answer waits and whether it
//! is sent, dropped or mangled. Pure: the random numbers come from a seeded
//! [`SplitMix`] the caller owns (one per connection), so a run is repeatable.
//! Disconnecting every N seconds is carried here as configuration; the server acts on it.

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

use crate::cards::SplitMix;

/// The longest delay any distribution may produce (log-normal tails are unbounded).
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// How long the issuer takes to answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Answer at once.
    None,
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two bounds (inclusive).
    Uniform(Duration, Duration),
    /// Log-normal: `median * exp(sigma * Z)` with Z standard normal.
    LogNormal {
        /// The median delay.
        median: Duration,
        /// The standard deviation of the underlying normal (0 = fixed).
        sigma: f64,
    },
}

fn millis(text: &str) -> Result<Duration, String> {
    let ms: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of milliseconds"))?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "{text:?} is not a non-negative number of milliseconds"
        ));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0).min(MAX_DELAY))
}

impl FromStr for Latency {
    type Err = String;

    /// `none`, `fixed:MS`, `uniform:MIN-MAX` or `lognormal:MEDIAN,SIGMA` (milliseconds).
    fn from_str(s: &str) -> Result<Latency, String> {
        let (kind, params) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "none" if params.is_empty() => Ok(Latency::None),
            "fixed" => Ok(Latency::Fixed(millis(params)?)),
            "uniform" => {
                let (lo, hi) = params
                    .split_once('-')
                    .ok_or("uniform latency is uniform:MIN-MAX (milliseconds)")?;
                let (lo, hi) = (millis(lo)?, millis(hi)?);
                if lo > hi {
                    return Err(format!("uniform latency: {lo:?} is above {hi:?}"));
                }
                Ok(Latency::Uniform(lo, hi))
            }
            "lognormal" => {
                let (median, sigma) = params
                    .split_once(',')
                    .ok_or("log-normal latency is lognormal:MEDIAN,SIGMA (milliseconds)")?;
                let sigma: f64 = sigma
                    .trim()
                    .parse()
                    .map_err(|_| format!("log-normal sigma {sigma:?} is not a number"))?;
                if !sigma.is_finite() || sigma < 0.0 {
                    return Err(format!("log-normal sigma {sigma} must be 0 or more"));
                }
                Ok(Latency::LogNormal {
                    median: millis(median)?,
                    sigma,
                })
            }
            _ => Err(format!(
                "unknown latency {s:?}: none, fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN,SIGMA"
            )),
        }
    }
}

/// A standard normal deviate (Box-Muller).
fn standard_normal(rng: &mut SplitMix) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1]: ln is finite
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Latency {
    /// One delay drawn from the distribution.
    pub fn sample(&self, rng: &mut SplitMix) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform(lo, hi) => {
                let span = (hi - lo).as_nanos() as f64;
                lo + Duration::from_nanos((span * rng.unit()) as u64)
            }
            Latency::LogNormal { median, sigma } => {
                let factor = (sigma * standard_normal(rng)).exp();
                let secs = median.as_secs_f64() * factor;
                if secs.is_finite() {
                    Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
                } else {
                    MAX_DELAY
                }
            }
        }
    }
}

/// What happens to one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Sent as is.
    Send,
    /// Never sent (the decision and its effect on the accounts stand).
    Drop,
    /// Replaced by a frame that does not decode.
    Malformed,
}

/// The plan for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How long to wait before sending.
    pub delay: Duration,
    /// Whether it was picked to be late (`--late-rate`).
    pub late: bool,
    /// Sent, dropped or mangled.
    pub fate: Fate,
}

/// The configured latency and faults. Everything off by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Delay before every answer.
    pub latency: Latency,
    /// Fraction of responses never sent.
    pub drop_rate: f64,
    /// Fraction of responses sent `late` after their normal delay.
    pub late_rate: f64,
    /// The extra delay of a late response.
    pub late: Duration,
    /// Fraction of responses replaced by a malformed frame.
    pub malformed_rate: f64,
    /// Close every connection this long after it was set up.
    pub disconnect_every: Option<Duration>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency: Latency::None,
            drop_rate: 0.0,
            late_rate: 0.0,
            late: Duration::from_secs(5),
            malformed_rate: 0.0,
            disconnect_every: None,
        }
    }
}

/// A fraction between 0 and 1.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{text} is not a fraction between 0 and 1"))
    }
}

impl Faults {
    /// Whether no response is ever delayed: answers can go out inline, in order.
    pub fn is_immediate(&self) -> bool {
        self.latency == Latency::None && self.late_rate == 0.0
    }

    /// Whether every response is sent as is, at once (the fast path).
    pub fn is_off(&self) -> bool {
        self.is_immediate() && self.drop_rate == 0.0 && self.malformed_rate == 0.0
    }

    /// The plan for the next response.
    pub fn plan(&self, rng: &mut SplitMix) -> Plan {
        let fate = if self.drop_rate > 0.0 && rng.unit() < self.drop_rate {
            Fate::Drop
        } else if self.malformed_rate > 0.0 && rng.unit() < self.malformed_rate {
            Fate::Malformed
        } else {
            Fate::Send
        };
        let mut delay = self.latency.sample(rng);
        let late = self.late_rate > 0.0 && rng.unit() < self.late_rate;
        if late {
            delay = (delay + self.late).min(MAX_DELAY);
        }
        Plan { delay, late, fate }
    }
}

/// A frame body that will not decode: `body` cut short at a random point (the
/// bitmap still announces the missing fields, so the decoder reports truncation).
pub fn mangle(body: &Bytes, rng: &mut SplitMix) -> Bytes {
    if body.len() < 2 {
        return Bytes::from_static(b"\xFF");
    }
    let keep = 1 + rng.below(body.len() as u64 - 1) as usize;
    body.slice(..keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_specs_parse() {
        assert_eq!("none".parse::<Latency>(), Ok(Latency::None));
        assert_eq!("fixed:20".parse::<Latency>(), Ok(Latency::Fixed(ms(20))));
        assert_eq!(
            "fixed:0.5".parse::<Latency>(),
            Ok(Latency::Fixed(Duration::from_micros(500)))
        );
        assert_eq!(
            "uniform:5-15".parse::<Latency>(),
            Ok(Latency::Uniform(ms(5), ms(15)))
        );
        assert_eq!(
            "lognormal:10,0.5".parse::<Latency>(),
            Ok(Latency::LogNormal {
                median: ms(10),
                sigma: 0.5
            })
        );
        for bad in [
            "",
            "fixed",
            "fixed:-1",
            "fixed:x",
            "uniform:9-5",
            "uniform:5",
            "lognormal:10",
            "lognormal:10,-1",
            "gauss:1",
            "none:1",
        ] {
            assert!(bad.parse::<Latency>().is_err(), "{bad}");
        }
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err() && parse_rate("x").is_err());
    }

    #[test]
    fn fixed_and_uniform_stay_in_bounds() {
        let mut rng = SplitMix::new(1);
        assert_eq!(Latency::Fixed(ms(7)).sample(&mut rng), ms(7));
        let u = Latency::Uniform(ms(10), ms(20));
        let samples: Vec<Duration> = (0..20_000).map(|_| u.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| *d >= ms(10) && *d <= ms(20)));
        let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / 20_000.0;
        assert!((mean - 0.015).abs() < 0.0002, "{mean}");
        // Both halves are visited.
        assert!(samples.iter().any(|d| *d < ms(11)) && samples.iter().any(|d| *d > ms(19)));
    }

    #[test]
    fn lognormal_has_its_median_and_mean() {
        let mut rng = SplitMix::new(7);
        let l = Latency::LogNormal {
            median: ms(10),
            sigma: 0.5,
        };
        let mut samples: Vec<f64> = (0..50_000)
            .map(|_| l.sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        assert!((median - 10.0).abs() < 0.3, "median {median}");
        // Mean of a log-normal: median * exp(sigma^2 / 2) = 11.33 ms.
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((mean - 11.33).abs() < 0.2, "mean {mean}");
        // Right-skewed, strictly positive.
        assert!(samples[0] > 0.0 && samples[samples.len() - 1] > 30.0);
        // Sigma 0 is the median exactly; a huge sigma stays capped.
        let mut rng = SplitMix::new(3);
        let flat = Latency::LogNormal {
            median: ms(10),
            sigma: 0.0,
        };
        assert_eq!(flat.sample(&mut rng), ms(10));
        let wild = Latency::LogNormal {
            median: ms(1000),
            sigma: 50.0,
        };
        assert!((0..1000).all(|_| wild.sample(&mut rng) <= MAX_DELAY));
    }

    #[test]
    fn fault_rates_are_respected() {
        let faults = Faults {
            drop_rate: 0.1,
            malformed_rate: 0.05,
            late_rate: 0.2,
            late: ms(1000),
            latency: Latency::Fixed(ms(2)),
            ..Faults::default()
        };
        assert!(!faults.is_immediate() && !faults.is_off());
        let mut rng = SplitMix::new(11);
        let plans: Vec<Plan> = (0..100_000).map(|_| faults.plan(&mut rng)).collect();
        let share = |f: &dyn Fn(&Plan) -> bool| {
            plans.iter().filter(|p| f(p)).count() as f64 / plans.len() as f64
        };
        let dropped = share(&|p| p.fate == Fate::Drop);
        let malformed = share(&|p| p.fate == Fate::Malformed);
        let late = share(&|p| p.late);
        assert!((dropped - 0.1).abs() < 0.005, "{dropped}");
        // Malformed is drawn among the responses not dropped.
        assert!((malformed - 0.045).abs() < 0.005, "{malformed}");
        assert!((late - 0.2).abs() < 0.005, "{late}");
        assert!(plans
            .iter()
            .all(|p| p.delay == if p.late { ms(1002) } else { ms(2) }));
        // Off by default.
        let off = Faults::default();
        assert!(off.is_off());
        let mut rng = SplitMix::new(1);
        assert_eq!(
            off.plan(&mut rng),
            Plan {
                delay: Duration::ZERO,
                late: false,
                fate: Fate::Send
            }
        );
    }

    #[test]
    fn mangled_frames_do_not_decode() {
        let spec = codecs::Spec::builtin("iso87ascii").unwrap();
        let msg = crate::messages::network_request("301", 1, &crate::clock::now_fields());
        let body = spec.encode_to_bytes(&msg).unwrap();
        let mut rng = SplitMix::new(5);
        for _ in 0..200 {
            let bad = mangle(&body, &mut rng);
            assert!(bad.len() < body.len() && !bad.is_empty());
            assert!(spec.decode(bad).is_err());
        }
        assert_eq!(mangle(&Bytes::new(), &mut rng).len(), 1);
    }
}
