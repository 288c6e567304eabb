//! Tests of chunks (`super`): encoding round trips, seek points, bounds.

use super::*;

fn roundtrip(samples: &[(i64, f64)]) -> Chunk {
    let mut c = Chunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    let back: Vec<(i64, u64)> = c.iter().map(|(t, v)| (t, v.to_bits())).collect();
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(back, want);
    let again = Chunk::from_raw(c.raw().0, c.raw().1).unwrap();
    assert_eq!(again.iter().count(), samples.len());
    c
}

#[test]
fn regular_counters_compress_well() {
    let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_700_000_000_000 + i * 15_000, (i * 37) as f64)).collect();
    let c = roundtrip(&samples);
    let per_sample = c.raw().0.len() as f64 / 120.0;
    assert!(per_sample < 2.5, "{per_sample} bytes per sample");
}

#[test]
fn a_first_chunk_grows_by_half_not_double() {
    for step in [1.0, 1.37, 1234.567] {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, i as f64 * step)).collect();
        let c = roundtrip(&samples);
        let (len, cap) = (c.raw().0.len(), c.byte_len());
        // Within a third (plus a small first step); doubling gives 256 bytes for 167.
        assert!(cap * 3 <= len * 4 + 64, "capacity {cap} for {len} bytes");
    }
}

#[test]
fn irregular_times_nan_inf_and_stale_markers_survive() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let samples = vec![
        (-5, 1.0),
        (0, f64::NAN),
        (1, stale),
        (1_000, f64::INFINITY),
        (1_001, f64::NEG_INFINITY),
        (900_000_000, -0.0),
        (900_000_001, 1e-300),
        (900_000_002, 0.1 + 0.2),
        (4_000_000_000, 42.0),
        (4_000_015_000, 42.0),
        (4_000_030_007, 43.5),
        (4_000_030_008, stale),
    ];
    // Negative times, and times just under the chunk's longest span from its start.
    let mut c = roundtrip(&samples);
    for base in [1_700_000_000_000, -3_000_000_000] {
        c = roundtrip(&samples.iter().map(|&(t, v)| (base + t, v)).collect::<Vec<_>>());
    }
    let vals: Vec<f64> = c.iter().map(|s| s.1).collect();
    assert!(vals[1].is_nan() && !is_stale(vals[1]), "a real NaN stays a real NaN");
    assert!(is_stale(vals[2]) && is_stale(vals[11]));
}

#[test]
fn windows_start_right_when_seek_points_do_not_fit() {
    // A delta past i32 milliseconds (sample 64, where a seek point falls): that seek point
    // is skipped, later ones are kept, and a window still gets every sample from its start.
    const JUMP: i64 = 2_200_000_000;
    let samples: Vec<(i64, f64)> =
        (0..100i64).map(|i| (i * 15_000 + if i >= 63 { JUMP } else { 0 }, i as f64)).collect();
    let mut c = Chunk::new();
    c.track_seeks();
    for &(t, v) in &samples {
        c.append(t, v);
    }
    assert_eq!(c.view().seeks.iter().map(|s| s.n).collect::<Vec<_>>(), [80, 96], "the seek point at 64 is skipped");
    let jump = 63 * 15_000 + JUMP;
    for start in [0, 20 * 15_000 + 1, 49 * 15_000, jump - 1, jump, jump + 20 * 15_000 + 1, 99 * 15_000 + JUMP] {
        let got: Vec<(i64, f64)> = c.view().iter_from(start).filter(|(t, _)| *t >= start).collect();
        let want: Vec<(i64, f64)> = samples.iter().copied().filter(|(t, _)| *t >= start).collect();
        assert_eq!(got, want, "from {start}");
    }
}

#[test]
fn every_dod_bucket() {
    let deltas = [10, 10, 15, 8202, 11, 65_547, 12, 524_300, 13, 10_000_013, 10, 1 << 31, 1, 8193, 8192];
    let mut t = -1_000;
    let mut s = vec![(t, 0.0)];
    for (i, d) in deltas.iter().enumerate() {
        t += d;
        s.push((t, i as f64 * 0.5));
    }
    roundtrip(&s);
}
