//! Round-trip properties of the JSON and CSV codecs.

use proptest::prelude::*;
use smokewatch::schema::csv::{CsvReader, CsvRow, CsvWriter, MissingCells};
use smokewatch::schema::json::{decode_reading, encode_reading};
use smokewatch::schema::{Channel, ChannelValues, EventTime, SmokeReading};

fn channel_values() -> impl Strategy<Value = ChannelValues> {
    let per_channel: Vec<_> = Channel::ALL
        .iter()
        .map(|c| {
            let range = c.physical_range();
            proptest::option::weighted(0.9, range)
        })
        .collect();
    per_channel.prop_map(|values| {
        let mut out = ChannelValues::EMPTY;
        for (c, v) in Channel::ALL.into_iter().zip(values) {
            out.set(c, v);
        }
        out
    })
}

fn reading() -> impl Strategy<Value = SmokeReading> {
    (
        "[a-z0-9-]{1,20}",
        "[a-z0-9]{1,8}",
        "[a-z_]{1,10}",
        946_684_800_000i64..4_102_444_800_000,
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        channel_values(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(device, home, room, t, seq, cnt, values, fire)| SmokeReading {
                device_id: device.as_str().into(),
                home: home.as_str().into(),
                room: room.as_str().into(),
                event_time: EventTime(t),
                seq,
                cnt,
                values,
                fire_alarm: fire,
            },
        )
}

proptest! {
    #[test]
    fn json_round_trips_any_valid_reading(r in reading()) {
        prop_assert_eq!(decode_reading(&encode_reading(&r)).unwrap(), r);
    }

    #[test]
    fn csv_round_trips_any_rows(readings in proptest::collection::vec(reading(), 1..20), crlf in any::<bool>()) {
        let rows: Vec<CsvRow> = readings
            .iter()
            .enumerate()
            .map(|(i, r)| CsvRow::from_reading(i as u64, r))
            .collect();
        let mut writer = CsvWriter::new(Vec::new()).unwrap();
        for row in &rows {
            writer.write_row(row).unwrap();
        }
        let mut text = String::from_utf8(writer.finish().unwrap()).unwrap();
        if !crlf {
            text = text.replace("\r\n", "\n");
        }
        let back: Vec<CsvRow> = CsvReader::new(text.as_bytes(), MissingCells::Allow)
            .map(|r| r.unwrap())
            .collect();
        prop_assert_eq!(back, rows);
    }

    #[test]
    fn json_decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_reading(&bytes);
    }
}
