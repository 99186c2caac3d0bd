//! The twelve sensor channels of the public Smoke Detection Dataset.
//!
//! Every part of smokewatch (codecs, windows, detectors, ML features, the
//! web form) names channels through [`Channel`], so the CSV header, the JSON
//! key and the physical range of a channel are written down exactly once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// One measured quantity of a smoke detector.
///
/// The order is the column order of the data set's CSV; [`Channel::index`]
/// is the position in [`ChannelValues`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[serde(rename = "temperature_c")]
    Temperature,
    #[serde(rename = "humidity_pct")]
    Humidity,
    #[serde(rename = "tvoc_ppb")]
    Tvoc,
    #[serde(rename = "eco2_ppm")]
    Eco2,
    #[serde(rename = "raw_h2")]
    RawH2,
    #[serde(rename = "raw_ethanol")]
    RawEthanol,
    #[serde(rename = "pressure_hpa")]
    Pressure,
    #[serde(rename = "pm1_0")]
    Pm1_0,
    #[serde(rename = "pm2_5")]
    Pm2_5,
    #[serde(rename = "nc0_5")]
    Nc0_5,
    #[serde(rename = "nc1_0")]
    Nc1_0,
    #[serde(rename = "nc2_5")]
    Nc2_5,
}

/// Number of sensor channels of a smoke detector.
pub const CHANNEL_COUNT: usize = 12;

impl Channel {
    /// All channels in data-set column order.
    pub const ALL: [Channel; CHANNEL_COUNT] = [
        Channel::Temperature,
        Channel::Humidity,
        Channel::Tvoc,
        Channel::Eco2,
        Channel::RawH2,
        Channel::RawEthanol,
        Channel::Pressure,
        Channel::Pm1_0,
        Channel::Pm2_5,
        Channel::Nc0_5,
        Channel::Nc1_0,
        Channel::Nc2_5,
    ];

    /// Position in [`Channel::ALL`] and in [`ChannelValues`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The column name in the data set's CSV header, e.g. `Temperature[C]`.
    pub const fn csv_name(self) -> &'static str {
        match self {
            Channel::Temperature => "Temperature[C]",
            Channel::Humidity => "Humidity[%]",
            Channel::Tvoc => "TVOC[ppb]",
            Channel::Eco2 => "eCO2[ppm]",
            Channel::RawH2 => "Raw H2",
            Channel::RawEthanol => "Raw Ethanol",
            Channel::Pressure => "Pressure[hPa]",
            Channel::Pm1_0 => "PM1.0",
            Channel::Pm2_5 => "PM2.5",
            Channel::Nc0_5 => "NC0.5",
            Channel::Nc1_0 => "NC1.0",
            Channel::Nc2_5 => "NC2.5",
        }
    }

    /// The snake_case key used in JSON, config and metric labels.
    pub const fn key(self) -> &'static str {
        match self {
            Channel::Temperature => "temperature_c",
            Channel::Humidity => "humidity_pct",
            Channel::Tvoc => "tvoc_ppb",
            Channel::Eco2 => "eco2_ppm",
            Channel::RawH2 => "raw_h2",
            Channel::RawEthanol => "raw_ethanol",
            Channel::Pressure => "pressure_hpa",
            Channel::Pm1_0 => "pm1_0",
            Channel::Pm2_5 => "pm2_5",
            Channel::Nc0_5 => "nc0_5",
            Channel::Nc1_0 => "nc1_0",
            Channel::Nc2_5 => "nc2_5",
        }
    }

    /// Unit as printed in the UI (empty for the raw gas-sensor counts).
    pub const fn unit(self) -> &'static str {
        match self {
            Channel::Temperature => "°C",
            Channel::Humidity => "%",
            Channel::Tvoc => "ppb",
            Channel::Eco2 => "ppm",
            Channel::RawH2 | Channel::RawEthanol => "",
            Channel::Pressure => "hPa",
            Channel::Pm1_0 | Channel::Pm2_5 => "µg/m³",
            Channel::Nc0_5 | Channel::Nc1_0 | Channel::Nc2_5 => "#/cm³",
        }
    }

    /// Values a working sensor can physically report.
    ///
    /// Wider than anything in the data set (so real extremes pass) but
    /// narrow enough to catch garbage: the SGP30 gas sensor reports TVOC
    /// 0–60000 ppb and eCO2 400–60000 ppm, raw signals are 16-bit counts,
    /// the BMP280 measures 300–1100 hPa, and particle sensors saturate far
    /// below 100000.
    pub fn physical_range(self) -> RangeInclusive<f64> {
        match self {
            Channel::Temperature => -40.0..=125.0,
            Channel::Humidity => 0.0..=100.0,
            Channel::Tvoc => 0.0..=60_000.0,
            Channel::Eco2 => 400.0..=60_000.0,
            Channel::RawH2 | Channel::RawEthanol => 0.0..=65_535.0,
            Channel::Pressure => 300.0..=1100.0,
            Channel::Pm1_0 | Channel::Pm2_5 => 0.0..=100_000.0,
            Channel::Nc0_5 | Channel::Nc1_0 | Channel::Nc2_5 => 0.0..=100_000.0,
        }
    }

    /// Looks a channel up by its JSON key or its CSV column name.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.key() == name || c.csv_name() == name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::from_name(s).ok_or_else(|| {
            let known: Vec<&str> = Channel::ALL.iter().map(|c| c.key()).collect();
            format!("unknown channel {s:?} (known: {})", known.join(", "))
        })
    }
}

/// One optional value per channel, indexed by [`Channel::index`].
///
/// Missing values are real (sensors drop out), so every slot is optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChannelValues(pub [Option<f64>; CHANNEL_COUNT]);

impl ChannelValues {
    /// All channels missing.
    pub const EMPTY: ChannelValues = ChannelValues([None; CHANNEL_COUNT]);

    pub fn get(&self, channel: Channel) -> Option<f64> {
        self.0[channel.index()]
    }

    pub fn set(&mut self, channel: Channel, value: Option<f64>) {
        self.0[channel.index()] = value;
    }

    /// Channels and their values, in column order.
    pub fn iter(&self) -> impl Iterator<Item = (Channel, Option<f64>)> + '_ {
        Channel::ALL.into_iter().map(|c| (c, self.get(c)))
    }

    /// How many channels carry no value.
    pub fn missing_count(&self) -> usize {
        self.0.iter().filter(|v| v.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_in_all() {
        for (i, c) in Channel::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c}");
        }
    }

    #[test]
    fn names_round_trip_through_from_name() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.key()), Some(c));
            assert_eq!(Channel::from_name(c.csv_name()), Some(c));
        }
        assert!("smoke".parse::<Channel>().is_err());
    }

    #[test]
    fn serde_name_is_the_json_key() {
        for c in Channel::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.key()));
        }
    }
}
