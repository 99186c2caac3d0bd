//! What is happening in a room: normal air, a nuisance source (cooking,
//! steam, a spray), a smouldering fire or a flaming fire.
//!
//! A scenario decides which class's distribution the detector is in (fire
//! scenarios are exactly the readings labelled `Fire Alarm` = 1) and pushes
//! the latent levels of the affected channels along an envelope that rises
//! (start), holds (peak) and falls (decay). The shifts are in latent
//! standard-normal units: the calibration composes them into the mapping
//! from latent to value, so a class's readings still follow the measured
//! distribution as a whole, while *within* an episode values evolve the way
//! the scenario does (a nuisance drives TVOC, eCO2 and particles into the
//! no-fire class's huge tail and Raw Ethanol/Raw H2 down; a smouldering fire
//! starts near no-fire levels and climbs to the fire class's TVOC plateau).

use super::profile::FireClass;
use crate::schema::CHANNEL_COUNT;

/// The kinds of scenario a room can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    Normal,
    /// Cooking, steam, aerosol spray: non-fire particles and VOC.
    Nuisance,
    Smouldering,
    Flaming,
}

/// Fractions of an episode spent rising, at peak and decaying (sum 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Envelope {
    pub rise: f64,
    pub hold: f64,
    pub decay: f64,
}

impl Envelope {
    /// Envelope level in [0, 1] at `progress` (0 = start, 1 = end).
    #[inline]
    pub fn level(&self, progress: f64) -> f64 {
        let p = progress.clamp(0.0, 1.0);
        if p < self.rise {
            p / self.rise
        } else if p < self.rise + self.hold {
            1.0
        } else if self.decay > 0.0 {
            ((1.0 - p) / self.decay).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

// Latent shifts per channel, in data-set column order:
// temperature, humidity, TVOC, eCO2, raw H2, raw ethanol, pressure,
// PM1.0, PM2.5, NC0.5, NC1.0, NC2.5.
type Shifts = [f64; CHANNEL_COUNT];

const NONE: Shifts = [0.0; CHANNEL_COUNT];
/// A nuisance pushes VOC and particles far up and the raw gas signals down
/// (the data's TVOC/Raw Ethanol and eCO2/Raw H2 anticorrelations), adds a
/// little warmth and steam.
const NUISANCE_PEAK: Shifts = [0.3, 0.8, 3.0, 2.5, -2.0, -2.5, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0];
/// Fires start near no-fire levels (low TVOC, high ethanol) ...
const SMOULDERING_ONSET: Shifts = [
    -0.2, 0.0, -1.6, -0.6, 0.6, 1.6, 0.4, -0.3, -0.3, -0.3, -0.3, -0.3,
];
/// ... and climb to the fire class's TVOC plateau. Fire rows of the real
/// data have *low* particle counts, uncorrelated with TVOC, so particles
/// move only a little.
const SMOULDERING_PEAK: Shifts = [
    0.2, 0.2, 1.3, 0.8, -0.8, -1.3, -0.4, 0.5, 0.5, 0.5, 0.5, 0.5,
];
const FLAMING_ONSET: Shifts = [
    -0.6, 0.2, -1.2, -1.0, 1.0, 1.2, 0.3, -0.3, -0.3, -0.3, -0.3, -0.3,
];
/// Flaming fires heat up fast and produce CO2 (eCO2 up, raw H2 down).
const FLAMING_PEAK: Shifts = [
    1.2, -0.4, 1.0, 1.6, -1.6, -1.0, -0.3, 0.6, 0.6, 0.6, 0.6, 0.6,
];

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 4] = [
        ScenarioKind::Normal,
        ScenarioKind::Nuisance,
        ScenarioKind::Smouldering,
        ScenarioKind::Flaming,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::Normal => "normal",
            ScenarioKind::Nuisance => "nuisance",
            ScenarioKind::Smouldering => "smouldering",
            ScenarioKind::Flaming => "flaming",
        }
    }

    /// The label the data set gives readings in this scenario.
    pub const fn class(self) -> FireClass {
        match self {
            ScenarioKind::Normal | ScenarioKind::Nuisance => FireClass::NoFire,
            ScenarioKind::Smouldering | ScenarioKind::Flaming => FireClass::Fire,
        }
    }

    pub const fn envelope(self) -> Envelope {
        match self {
            ScenarioKind::Normal => Envelope {
                rise: 0.0,
                hold: 1.0,
                decay: 0.0,
            },
            ScenarioKind::Nuisance => Envelope {
                rise: 0.2,
                hold: 0.3,
                decay: 0.5,
            },
            // Smouldering builds slowly and is put out near its peak.
            ScenarioKind::Smouldering => Envelope {
                rise: 0.6,
                hold: 0.25,
                decay: 0.15,
            },
            // Flaming flares up within seconds and burns at its peak.
            ScenarioKind::Flaming => Envelope {
                rise: 0.1,
                hold: 0.6,
                decay: 0.3,
            },
        }
    }

    /// Latent shift of `channel` at envelope level `level` (0 start, 1 peak).
    #[inline]
    pub fn shift(self, channel: usize, level: f64) -> f64 {
        let (onset, peak) = self.shifts();
        onset[channel] + (peak[channel] - onset[channel]) * level
    }

    const fn shifts(self) -> (&'static Shifts, &'static Shifts) {
        match self {
            ScenarioKind::Normal => (&NONE, &NONE),
            ScenarioKind::Nuisance => (&NONE, &NUISANCE_PEAK),
            ScenarioKind::Smouldering => (&SMOULDERING_ONSET, &SMOULDERING_PEAK),
            ScenarioKind::Flaming => (&FLAMING_ONSET, &FLAMING_PEAK),
        }
    }
}

/// One scenario with its length, advanced one reading at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    pub kind: ScenarioKind,
    /// Readings in the episode.
    pub length: u64,
    /// Readings already produced.
    pub elapsed: u64,
}

impl Episode {
    pub fn new(kind: ScenarioKind, length: u64) -> Self {
        Self {
            kind,
            length: length.max(1),
            elapsed: 0,
        }
    }

    pub fn is_over(&self) -> bool {
        self.elapsed >= self.length
    }

    /// Envelope level of the reading about to be produced.
    #[inline]
    pub fn level(&self) -> f64 {
        let progress = (self.elapsed as f64 + 0.5) / self.length as f64;
        self.kind.envelope().level(progress)
    }
}

/// Share of a class's time spent in each scenario kind; the calibration
/// needs it to keep the class's marginals exact under the shifts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioMix {
    /// (kind, share of the no-fire class's readings); shares sum to 1.
    pub no_fire: Vec<(ScenarioKind, f64)>,
    /// (kind, share of the fire class's readings); shares sum to 1.
    pub fire: Vec<(ScenarioKind, f64)>,
}

impl ScenarioMix {
    /// A mix from the share of no-fire time with a nuisance and the share
    /// of fire time that is smouldering (the rest is flaming).
    pub fn new(nuisance_share: f64, smouldering_share: f64) -> Self {
        let n = nuisance_share.clamp(0.0, 1.0);
        let s = smouldering_share.clamp(0.0, 1.0);
        Self {
            no_fire: vec![(ScenarioKind::Normal, 1.0 - n), (ScenarioKind::Nuisance, n)],
            fire: vec![
                (ScenarioKind::Smouldering, s),
                (ScenarioKind::Flaming, 1.0 - s),
            ],
        }
    }

    pub fn of(&self, class: FireClass) -> &[(ScenarioKind, f64)] {
        match class {
            FireClass::NoFire => &self.no_fire,
            FireClass::Fire => &self.fire,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_rises_holds_and_decays() {
        let e = ScenarioKind::Nuisance.envelope();
        assert_eq!(e.level(0.0), 0.0);
        assert!((e.level(0.1) - 0.5).abs() < 1e-12);
        assert_eq!(e.level(0.3), 1.0);
        assert!((e.level(0.75) - 0.5).abs() < 1e-12);
        assert_eq!(e.level(1.0), 0.0);
        for kind in ScenarioKind::ALL {
            let e = kind.envelope();
            assert!((e.rise + e.hold + e.decay - 1.0).abs() < 1e-12, "{kind:?}");
        }
    }

    #[test]
    fn only_fire_scenarios_are_labelled_fire() {
        let fire: Vec<_> = ScenarioKind::ALL
            .into_iter()
            .filter(|k| k.class() == FireClass::Fire)
            .collect();
        assert_eq!(fire, [ScenarioKind::Smouldering, ScenarioKind::Flaming]);
    }
}
