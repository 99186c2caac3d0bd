//! Example readings for the Predict form, taken from the measured per-class
//! statistics of the public Smoke Detection Dataset (62,630 rows; the
//! profile the simulator is calibrated on). Copied here as constants: the
//! daemon never reads the profile file at run time.

use crate::schema::{CHANNEL_COUNT, Channel};
use serde::Serialize;

/// A named example reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preset {
    /// Slug for the Predict page's button id (`preset-<id>`), e.g. `cooking`.
    pub id: &'static str,
    /// Button text on the Predict page, e.g. "Smouldering fire".
    pub label: &'static str,
    /// Where the numbers come from.
    pub source: &'static str,
    /// One value per channel, in [`Channel::ALL`] order.
    #[serde(skip)]
    pub values: [f64; CHANNEL_COUNT],
}

impl Preset {
    /// `(json key, value)` pairs for the page's script.
    pub fn pairs(&self) -> Vec<(&'static str, f64)> {
        Channel::ALL
            .iter()
            .zip(self.values)
            .map(|(c, v)| (c.key(), v))
            .collect()
    }
}

/// Normal air, cooking, smouldering fire.
pub const PRESETS: [Preset; 3] = [
    Preset {
        id: "normal",
        label: "Normal air",
        source: "median of every channel over the no-fire rows",
        // T, RH, TVOC, eCO2, H2, Ethanol, hPa, PM1.0, PM2.5, NC0.5, NC1.0, NC2.5
        values: [
            20.54, 46.14, 86.0, 400.0, 12840.0, 20160.0, 937.5, 1.45, 1.52, 9.97, 1.578, 0.039,
        ],
    },
    Preset {
        id: "cooking",
        label: "Cooking",
        source: "upper tail of the no-fire rows: p90 temperature, humidity and TVOC, \
                 p99 eCO2 and particles, p10 raw H2/ethanol, median pressure",
        values: [
            29.69, 54.25, 9008.0, 16310.0, 12660.0, 19380.0, 937.5, 9180.0, 15870.0, 46170.0,
            17460.0, 6819.0,
        ],
    },
    Preset {
        id: "smouldering",
        label: "Smouldering fire",
        source: "fire rows: p75 TVOC, humidity and pressure, p25 raw ethanol, \
                 median of the other channels",
        values: [
            20.02, 53.47, 1208.0, 404.0, 12930.0, 19430.0, 939.3, 1.87, 1.94, 12.86, 2.005, 0.045,
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_physically_possible() {
        for preset in PRESETS {
            for (channel, value) in Channel::ALL.iter().zip(preset.values) {
                assert!(
                    channel.physical_range().contains(&value),
                    "{} {channel} = {value}",
                    preset.id
                );
            }
        }
    }
}
