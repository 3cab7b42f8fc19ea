//! The recording format: round trips, hourly files, torn tails.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// A scratch folder under the target directory, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("perpbot-recording-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 2025-06-15 13:59:58 UTC.
const T: Timestamp = Timestamp(1_749_995_998_000_000_000);

fn at(ms: u64) -> Timestamp {
    T.plus(Duration::from_millis(ms))
}

#[test]
fn file_names_follow_the_utc_hour() {
    assert_eq!(file_name("kana", T), "kana-20250615T13.pbrec.gz");
    assert_eq!(file_name("kana", at(2_000)), "kana-20250615T14.pbrec.gz");
    assert_eq!(file_name("kana", Timestamp(0)), "kana-19700101T00.pbrec.gz");
    // 2024-02-29 23:00 UTC: a leap day.
    assert_eq!(
        file_name("kana", Timestamp(1_709_247_600_000_000_000)),
        "kana-20240229T23.pbrec.gz"
    );
}

#[test]
fn frames_come_back_in_order_across_the_hour_with_their_receive_times() {
    let dir = Scratch::new("roundtrip");
    let frames: Vec<(Timestamp, String)> = (0..500)
        .map(|i| (at(i * 10), format!("{{\"n\":{i},\"text\":\"é\"}}")))
        .collect();
    {
        let mut rec = Recorder::new(&dir.0, "kana", RecorderOptions::default()).unwrap();
        for (t, text) in &frames {
            rec.record(*t, text).unwrap();
        }
        assert_eq!(rec.frames(), 500);
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["kana-20250615T13.pbrec.gz", "kana-20250615T14.pbrec.gz"]
    );
    let reader = RecordingReader::open(&dir.0, None, None).unwrap();
    let back: Vec<(Timestamp, String)> = reader.map(|f| (f.received, f.text)).collect();
    assert_eq!(back, frames);
    // A time range keeps [from, to).
    let ranged: Vec<Frame> = RecordingReader::open(&dir.0, Some(at(100)), Some(at(200)))
        .unwrap()
        .collect();
    assert_eq!(ranged.len(), 10);
    assert_eq!(ranged[0].received, at(100));
}

#[test]
fn a_torn_tail_is_reported_and_what_came_before_it_is_kept() {
    let dir = Scratch::new("torn");
    let options = RecorderOptions {
        block_bytes: 1,
        ..RecorderOptions::default()
    };
    {
        let mut rec = Recorder::new(&dir.0, "kana", options).unwrap();
        for i in 0..10 {
            rec.record(at(i), &format!("frame {i}")).unwrap();
        }
    }
    let path = dir.0.join(file_name("kana", T));
    let whole = std::fs::read(&path).unwrap();
    // A crash half-way through writing the last block.
    std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
    let (frames, stats) = read_file(&path).unwrap();
    assert_eq!(frames.len(), 9, "every whole block before the tear");
    assert_eq!(stats.torn_files, 1);
    // Garbage appended after whole blocks is found too, and nothing of it is trusted.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::fs::write(&path, &whole).unwrap();
    f.write_all(b"not gzip at all").unwrap();
    drop(f);
    let (frames, stats) = read_file(&path).unwrap();
    assert_eq!(frames.len(), 10);
    assert_eq!(stats.torn_files, 1);
}

#[test]
fn a_flipped_byte_fails_the_checksum_instead_of_replaying_a_wrong_frame() {
    let mut record = Vec::new();
    encode(T, "{\"price\":\"5.512\"}", &mut record);
    let position = record.len() - 3;
    record[position] ^= 0x01;
    let dir = Scratch::new("flipped");
    let path = dir.0.join("kana-20250615T13.pbrec.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&record).unwrap();
    gz.finish().unwrap();
    let (frames, stats) = read_file(&path).unwrap();
    assert!(frames.is_empty());
    assert_eq!(stats.torn_files, 1);
}

#[test]
fn an_empty_folder_or_a_bad_manifest_is_a_clear_error() {
    let dir = Scratch::new("empty");
    let err = RecordingReader::open(&dir.0, None, None).err().unwrap();
    assert!(err.to_string().contains("no recorded frames"), "{err}");
    std::fs::write(dir.0.join(MANIFEST), "{\"venue\": 3}").unwrap();
    let err = Manifest::load(&dir.0).unwrap_err();
    assert!(
        err.to_string().contains("not a recording manifest"),
        "{err}"
    );
    let manifest = Manifest {
        venue: "kana".into(),
        markets: vec![perpbot_model::MarketSpec::kana_apt_testnet()],
        units: "auto".into(),
        source: "ws://127.0.0.1:1/ws".into(),
    };
    manifest.save(&dir.0).unwrap();
    assert_eq!(Manifest::load(&dir.0).unwrap(), manifest);
}
