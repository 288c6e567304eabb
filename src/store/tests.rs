//! Store tests: identity of series, matchers through the index, appends, staleness, retention,
//! the series cap and the checkpoint round trip.

use super::*;

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).unwrap()
}

fn store() -> Store {
    let s = Store::new(1000, 3_600_000);
    for (name, job, code) in
        [("http", "api", "200"), ("http", "api", "500"), ("http", "worker", "200"), ("up", "api", "")]
    {
        let id = s.get_or_create([("__name__", name), ("job", job), ("code", code)]).unwrap();
        s.append(id, 1000, 1.0).unwrap();
    }
    s
}

#[test]
fn same_labels_same_series_in_any_order() {
    let s = Store::new(10, 1000);
    let a = s.get_or_create([("__name__", "m"), ("b", "2"), ("a", "1")]).unwrap();
    let b = s.get_or_create([("a", "1"), ("__name__", "m"), ("b", "2")]).unwrap();
    let c = s.get_or_create([("a", "1"), ("__name__", "m")]).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // An empty value is the same as no label.
    assert_eq!(s.get_or_create([("a", "1"), ("__name__", "m"), ("z", "")]).unwrap(), c);
    assert_eq!(s.get_or_create([("a", "1"), ("a", "2")]), Err(StoreError::DuplicateLabel("a".into())));
    assert_eq!(s.labels(a).unwrap().to_string(), "m{a=\"1\", b=\"2\"}");
}

#[test]
fn matchers_select_through_postings() {
    let s = store();
    let names =
        |ms: &[Matcher]| -> Vec<String> { s.select(ms).iter().map(|id| s.labels(*id).unwrap().to_string()).collect() };
    assert_eq!(names(&[m(MatchOp::Equal, "__name__", "http")]).len(), 3);
    assert_eq!(
        names(&[m(MatchOp::Equal, "__name__", "http"), m(MatchOp::Equal, "code", "500")]),
        ["http{code=\"500\", job=\"api\"}"]
    );
    assert_eq!(names(&[m(MatchOp::Equal, "__name__", "http"), m(MatchOp::NotEqual, "job", "api")]).len(), 1);
    assert_eq!(names(&[m(MatchOp::Regex, "code", "5..|2.."), m(MatchOp::Equal, "job", "api")]).len(), 2);
    assert_eq!(names(&[m(MatchOp::Regex, "code", "0")]).len(), 0, "regexes are anchored");
    assert_eq!(names(&[m(MatchOp::NotRegex, "code", "2..")]).len(), 2, "absent label matches !~");
    // code="" matches series without the label.
    assert_eq!(names(&[m(MatchOp::Equal, "code", ""), m(MatchOp::Equal, "job", "api")]), ["up{job=\"api\"}"]);
    assert!(names(&[m(MatchOp::Equal, "nope", "x")]).is_empty());
    assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    assert_eq!(s.label_values("job"), ["api", "worker"]);
    assert_eq!(s.label_names(), ["__name__", "code", "job"]);
}

#[test]
fn appends_are_in_order_and_queries_see_ranges() {
    let s = Store::new(10, 3_600_000);
    let id = s.get_or_create([("__name__", "m")]).unwrap();
    for i in 0..300 {
        s.append(id, i * 15_000, i as f64).unwrap();
    }
    assert_eq!(s.append(id, 15_000, 9.0), Err(StoreError::OutOfOrder));
    assert_eq!(s.append(id, 299 * 15_000, 9.0), Err(StoreError::Duplicate));
    assert_eq!(s.append(id, 299 * 15_000, 299.0), Ok(()), "an identical repeat is fine");
    let q = s.query(&[Matcher::eq("__name__", "m")], 30_000, 60_000);
    assert_eq!(q[0].1, vec![(30_000, 2.0), (45_000, 3.0), (60_000, 4.0)]);
    let q = s.query(&[Matcher::eq("__name__", "m")], 0, i64::MAX);
    assert_eq!(q[0].1.len(), 300, "across sealed chunks");
    assert!(s.query(&[Matcher::eq("__name__", "m")], 10_000_000, 20_000_000).is_empty());
    let st = s.stats();
    assert_eq!((st.series, st.samples), (1, 300));
    let batch = s.append_batch(&[(id, 300 * 15_000, 1.0), (id, 1, 1.0), (999, 1, 1.0)]);
    assert_eq!(batch, AppendStats { appended: 1, rejected: 1, unknown: 1 });
}

#[test]
fn staleness_markers_are_distinct_from_nan() {
    let s = Store::new(10, 3_600_000);
    let id = s.get_or_create([("__name__", "m")]).unwrap();
    s.append(id, 1000, f64::NAN).unwrap();
    assert_eq!(s.mark_stale([id], 2000), 1);
    assert_eq!(s.mark_stale([id], 3000), 0, "already stale");
    let q = s.query(&[Matcher::eq("__name__", "m")], 0, 5000);
    assert!(q[0].1[0].1.is_nan() && !is_stale(q[0].1[0].1));
    assert!(is_stale(q[0].1[1].1));
}

#[test]
fn series_cap_is_enforced() {
    let s = Store::new(2, 1000);
    s.get_or_create([("__name__", "a")]).unwrap();
    s.get_or_create([("__name__", "b")]).unwrap();
    assert_eq!(s.get_or_create([("__name__", "c")]), Err(StoreError::SeriesLimit { limit: 2 }));
    assert!(s.get_or_create([("__name__", "a")]).is_ok(), "existing series still resolve");
}

#[test]
fn retention_drops_old_chunks_and_dead_series_per_metric() {
    let s = Store::new(100, 3_600_000);
    let a = s.get_or_create([("__name__", "raw")]).unwrap();
    let b = s.get_or_create([("__name__", "agg")]).unwrap();
    let gone = s.get_or_create([("__name__", "gone")]).unwrap();
    for i in 0..(4 * 240) {
        let t = i * 15_000; // 4 hours
        s.append(a, t, 1.0).unwrap();
        s.append(b, t, 1.0).unwrap();
    }
    s.append(gone, 0, 1.0).unwrap();
    s.set_retentions(&HashMap::from([("agg".to_string(), 3 * 3_600_000)]));
    let now = 4 * 3_600_000;
    let series = s.gc(now).series;
    assert_eq!(series, 1, "the series with nothing in its window goes");
    assert!(s.labels(gone).is_none());
    let first = |id| s.query(&[Matcher::eq("__name__", s.labels(id).unwrap().metric_name())], 0, i64::MAX)[0].1[0].0;
    assert!(first(a) >= now - 3_600_000 - 30 * 60_000 && first(a) < now - 3_600_000 + 1, "raw keeps ~1h: {}", first(a));
    assert!(first(b) <= now - 3 * 3_600_000, "agg keeps 3h: {}", first(b));
    assert_eq!(s.select(&[Matcher::eq("__name__", "gone")]), Vec::<u32>::new(), "postings cleaned");
}

#[test]
fn checkpoint_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.ckpt");
    let s = Store::new(100, 3_600_000);
    for j in 0..5 {
        let job = format!("j{j}");
        let id = s.get_or_create([("__name__", "m"), ("job", job.as_str()), ("q", "a\"b\n")]).unwrap();
        for i in 0..250 {
            s.append(id, i * 15_000, (i * j) as f64 + 0.5).unwrap();
        }
        s.mark_stale([id], 250 * 15_000);
    }
    let written = s.checkpoint_to(&path).unwrap();
    assert_eq!((written.series, written.samples), (5, 5 * 251));
    let r = Store::new(100, 3_600_000);
    let read = r.restore_from(&path).unwrap();
    assert_eq!((read.series, read.samples), (5, 5 * 251));
    let all = |st: &Store| st.query(&[Matcher::eq("__name__", "m")], 0, i64::MAX);
    let (mut x, mut y) = (all(&s), all(&r));
    x.sort_by(|a, b| a.0.cmp(&b.0));
    y.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(format!("{x:?}"), format!("{y:?}"));
    // Appending continues after a restore.
    let id = r.select(&[Matcher::eq("job", "j1")])[0];
    r.append(id, 251 * 15_000, 1.0).unwrap();
    assert_eq!(read.bytes, std::fs::metadata(&path).unwrap().len() as usize);
    // A truncated file: an error naming it, and the series before the cut are restored.
    let good = std::fs::read(&path).unwrap();
    for cut in [9, 20, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        let r = Store::new(100, 3_600_000);
        let err = r.restore_from(&path).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let restored = r.stats().series;
        assert!(restored < 5, "cut at {cut}: {restored} series");
        if cut == good.len() - 1 {
            assert_eq!(restored, 4, "all but the last series");
        }
    }
    // A length field claiming 4 GiB does not allocate it: the read stops at the file's end.
    let mut huge = good.clone();
    huge[18..22].copy_from_slice(&u32::MAX.to_le_bytes()); // the first label name's length
    std::fs::write(&path, &huge).unwrap();
    assert!(Store::new(100, 3_600_000).restore_from(&path).unwrap_err().to_string().contains("truncated"));
    // Missing file: nothing restored; corrupt file: an error.
    assert_eq!(Store::new(1, 1).restore_from(&dir.path().join("none")).unwrap().series, 0);
    std::fs::write(&path, b"garbage").unwrap();
    assert!(Store::new(1, 1).restore_from(&path).is_err());
}

/// Two label sets with the same fingerprint are two series, told apart by their labels (a
/// real 64-bit collision cannot be made on purpose, so both are given fingerprint 7).
#[test]
fn fingerprint_collisions_keep_series_apart() {
    let s = Store::new(10, 1000);
    let mut inner = s.write();
    let a = inner.create(7, &[("__name__", "a")]);
    let b = inner.create(7, &[("__name__", "b")]);
    assert_ne!(a, b);
    assert_eq!(inner.find(7, &[("__name__", "a")]), Some(a));
    assert_eq!(inner.find(7, &[("__name__", "b")]), Some(b));
    assert_eq!(inner.find(7, &[("__name__", "c")]), None);
}

/// The series header does not keep its fingerprint: the table rehashes by fingerprints computed
/// again from the labels as it grows, and removal finds each series' entry the same way.
#[test]
fn fingerprints_recomputed_from_labels_find_and_remove_every_series() {
    let s = Store::new(10_000, 1000);
    let values: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
    let ids: Vec<u32> =
        values.iter().map(|v| s.get_or_create([("__name__", "m"), ("i", v.as_str())]).unwrap()).collect();
    for (v, &id) in values.iter().zip(&ids) {
        assert_eq!(s.get_or_create([("__name__", "m"), ("i", v.as_str())]).unwrap(), id);
    }
    let mut inner = s.write();
    for &id in &ids[..1500] {
        inner.remove(id);
    }
    assert_eq!(inner.by_fp.len(), 1500);
    drop(inner);
    for (v, &id) in values.iter().zip(&ids).skip(1500) {
        assert_eq!(s.get_or_create([("__name__", "m"), ("i", v.as_str())]).unwrap(), id, "still found");
    }
    let mut inner = s.write();
    for &id in &ids[1500..] {
        inner.remove(id);
    }
    assert!(inner.by_fp.is_empty());
}

/// Windows read through the head chunk's seek points return exactly the samples a full decode
/// would, for every window start — irregular times, NaN, ±Inf and staleness markers included.
#[test]
fn windows_from_seek_points_match_a_full_decode() {
    let s = Store::new(10, i64::MAX / 4);
    let id = s.get_or_create([("__name__", "w")]).unwrap();
    let mut all = Vec::new();
    let mut t = 1_000;
    for k in 0..300i64 {
        t += 15_000 + (k % 7) * 333 - if k % 11 == 0 { 9_000 } else { 0 };
        let v = match k % 13 {
            3 => f64::NAN,
            5 => f64::INFINITY,
            7 => f64::from_bits(STALE_NAN_BITS),
            _ => (k * k) as f64 * 0.37 - 40.0,
        };
        s.append(id, t, v).unwrap();
        all.push((t, v.to_bits()));
        if k % 37 == 0 || k == 299 {
            // Check windows ending at the newest sample, starting anywhere before it.
            for start in (all[0].0 - 5..=t + 1).step_by(2_017) {
                let got: Vec<(i64, u64)> = s
                    .query(&[Matcher::eq("__name__", "w")], start, t)
                    .into_iter()
                    .flat_map(|(_, p)| p)
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect();
                let want: Vec<(i64, u64)> = all.iter().copied().filter(|(ts, _)| *ts >= start && *ts <= t).collect();
                assert_eq!(got, want, "window [{start}, {t}] after {} samples", k + 1);
            }
        }
    }
    assert!(s.read().series[&id].head.tracks_seeks(), "a series read by windows keeps seek points");
    let quiet = s.get_or_create([("__name__", "q")]).unwrap();
    for k in 0..40 {
        s.append(quiet, k * 15_000, 1.0).unwrap();
    }
    assert!(!s.read().series[&quiet].head.tracks_seeks(), "one nobody reads does not");
}

/// Resident KiB of this process' maps of chunk segments under `dir` (from /proc/self/smaps).
fn mapped_chunk_kib(dir: &std::path::Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut ours = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if line.split_whitespace().next().is_some_and(|f| f.contains('-') && !f.ends_with(':')) {
            ours = line.contains(&*dir.to_string_lossy()) && line.ends_with(".chunks");
        } else if ours && let Some(v) = line.strip_prefix("Rss:") {
            kib += v.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap();
        }
    }
    kib
}

/// Pages of chunk segments that reads mapped leave the resident memory when unmapped, and the
/// chunks read back the same afterwards.
#[test]
fn unmapped_chunk_pages_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::new(2000, 3_600_000);
    s.use_chunk_dir(&dir.path().join("u.chunks")).unwrap();
    // Enough sealed chunks (~1 MB of varying values) that they are written past the write buffer.
    for k in 0..2000 {
        let id = s.get_or_create([("__name__", "m"), ("k", &k.to_string())]).unwrap();
        for i in 0..400i64 {
            s.append(id, i * 15_000, ((i * 7919 + k * 104_729) % 1_000_003) as f64 / 7.0).unwrap();
        }
    }
    let all = |s: &Store| s.query(&[Matcher::eq("__name__", "m")], 0, i64::MAX);
    let before = format!("{:?}", all(&s));
    assert!(mapped_chunk_kib(dir.path()) > 0, "reads map segment pages");
    s.unmap_chunk_pages();
    assert_eq!(mapped_chunk_kib(dir.path()), 0, "unmapped");
    assert_eq!(format!("{:?}", all(&s)), before, "the same samples after the pages were unmapped");
}

/// With a chunk directory, sealed chunks go to segment files and read back exactly: queries
/// across them, the checkpoint (read from the files) and a restore into another store with its
/// own directory; retention releases them and deletes segments no chunk uses any more.
#[test]
fn sealed_chunks_in_files_read_back_checkpoint_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::new(1000, 3_600_000);
    s.use_chunk_dir(&dir.path().join("a.chunks")).unwrap();
    let mut want = Vec::new();
    for k in 0..50 {
        let id = s.get_or_create([("__name__", "m"), ("k", &k.to_string())]).unwrap();
        for i in 0..400i64 {
            let v = if i == 200 { f64::from_bits(STALE_NAN_BITS) } else { (i * k) as f64 * 0.5 };
            s.append(id, i * 15_000, v).unwrap();
            if k == 7 {
                want.push((i * 15_000, v.to_bits()));
            }
        }
    }
    let st = s.stats();
    assert_eq!(st.samples, 50 * 400);
    assert!(st.file_bytes > 0 && st.file_segments == 1, "{st:?}");
    assert!(st.chunk_bytes < st.file_bytes, "only head chunks stay in memory: {st:?}");
    let q = |s: &Store| -> Vec<(i64, u64)> {
        s.query(&[Matcher::eq("__name__", "m"), Matcher::eq("k", "7")], 0, i64::MAX)
            .into_iter()
            .flat_map(|(_, p)| p)
            .map(|(t, v)| (t, v.to_bits()))
            .collect()
    };
    assert_eq!(q(&s), want, "samples read back across file chunks and the head");
    let window = s.query(&[Matcher::eq("k", "7")], 100 * 15_000, 130 * 15_000);
    assert_eq!(window[0].1.len(), 31, "a window spanning a sealed chunk and the next");

    let ck = dir.path().join("a.store");
    assert_eq!(s.checkpoint_to(&ck).unwrap().samples, 50 * 400);
    let r = Store::new(1000, 3_600_000);
    r.use_chunk_dir(&dir.path().join("b.chunks")).unwrap();
    assert_eq!(r.restore_from(&ck).unwrap().samples, 50 * 400);
    assert_eq!(q(&r), want, "restored from a checkpoint of file chunks");

    // Everything but the newest chunk of each series expires: the segment (written before the
    // new one is opened) stays while chunks in it live, and goes with the last of them.
    let segs = || {
        let files = std::fs::read_dir(dir.path().join("a.chunks")).unwrap();
        files.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "chunks")).count()
    };
    assert_eq!(segs(), 1);
    s.gc(400 * 15_000 + 3_600_000 + 1);
    assert_eq!(s.stats().series, 0, "nothing left in the window");
    assert_eq!(s.stats().file_bytes, 0);
    assert_eq!(segs(), 1, "the segment being written is kept for the next chunks");
    drop(s);
    assert_eq!(segs(), 0, "segments go with the store");
}

/// Series created together do not seal together: each series' chunk length lies in 90..=150
/// samples, fixed by its fingerprint, so after 120 aligned appends about half have sealed a
/// chunk. A chunk never spans more than 2^32 ms (its end is kept as a 32-bit offset): a sample
/// further away starts a new chunk, and every time reads back exactly.
#[test]
fn chunk_lengths_spread_by_fingerprint_and_long_gaps_seal() {
    let s = Store::new(1000, i64::MAX / 4);
    let ids: Vec<u32> =
        (0..200).map(|k| s.get_or_create([("__name__", "m"), ("k", &k.to_string())]).unwrap()).collect();
    for i in 0..120i64 {
        for &id in &ids {
            s.append(id, i * 15_000, i as f64).unwrap();
        }
    }
    {
        let inner = s.read();
        let sealed = ids.iter().filter(|id| inner.series[*id].sealed.len() > 0).count();
        assert!((60..=140).contains(&sealed), "{sealed} of 200 sealed a chunk");
        let lens: std::collections::BTreeSet<u8> = ids
            .iter()
            .map(|id| chunk::chunk_samples(super::series_fp(&inner.label_sets, &inner.interner, &inner.series[id])))
            .collect();
        assert!(lens.len() > 40 && *lens.first().unwrap() >= 90 && *lens.last().unwrap() <= 150, "{lens:?}");
    }
    let id = s.get_or_create([("__name__", "sparse")]).unwrap();
    let times = [0i64, 1 << 31, 1 << 33, (1 << 33) + 1, 1 << 40];
    for (i, &t) in times.iter().enumerate() {
        s.append(id, t, i as f64).unwrap();
    }
    assert_eq!(s.read().series[&id].sealed.len(), 2, "a new chunk at each jump past 2^32 ms");
    let got: Vec<(i64, f64)> = s.query(&[Matcher::eq("__name__", "sparse")], 0, i64::MAX)[0].1.clone();
    assert_eq!(got, times.iter().enumerate().map(|(i, &t)| (t, i as f64)).collect::<Vec<_>>());
}

/// Label sets live in one arena as LEB128 symbol pairs: symbols of any size read back, and
/// removing most series compacts the arena without disturbing the series left.
#[test]
fn label_arena_round_trips_and_compacts() {
    let mut arena = labels::LabelArena::default();
    let pairs = [(0, 1), (127, 128), (16_383, 16_384), (u32::MAX - 1, u32::MAX)];
    let r = arena.push(&pairs);
    assert_eq!(arena.get(r).collect::<Vec<_>>(), pairs);
    let empty = arena.push(&[]);
    assert_eq!(arena.get(empty).count(), 0);

    let s = Store::new(10_000, 3_600_000);
    let ids: Vec<u32> = (0..3000)
        .map(|k| s.get_or_create([("__name__", "m"), ("k", &k.to_string()), ("job", "api")]).unwrap())
        .collect();
    let before = s.read().label_sets.bytes();
    for &id in ids.iter().filter(|&&id| id % 10 != 0) {
        s.write().remove(id);
    }
    assert!(s.read().label_sets.bytes() < before / 4, "compacted: {} of {before} bytes", s.read().label_sets.bytes());
    for (k, &id) in ids.iter().enumerate().filter(|(_, id)| **id % 10 == 0) {
        assert_eq!(s.labels(id).unwrap().to_string(), format!("m{{job=\"api\", k=\"{k}\"}}"));
        let again = s.get_or_create([("job", "api"), ("__name__", "m"), ("k", &k.to_string())]).unwrap();
        assert_eq!(again, id, "found again by its labels after compaction");
    }
}

/// Per-series memory is this store's main cost at 100k series; these sizes are what
/// docs/PERFORMANCE.md accounts for.
#[test]
fn series_headers_stay_small() {
    assert!(std::mem::size_of::<series::MemSeries>() <= 64, "{}", std::mem::size_of::<series::MemSeries>());
    assert!(std::mem::size_of::<chunk::Chunk>() <= 40, "{}", std::mem::size_of::<chunk::Chunk>());
    assert!(std::mem::size_of::<chunk::Sealed>() <= 24, "{}", std::mem::size_of::<chunk::Sealed>());
    assert_eq!(std::mem::size_of::<labels::LabelRef>(), 8);
}

/// Under series churn the series table does not grow by a slot per series ever created: a page
/// of ids whose series are all gone is freed, and ids are never reused.
#[test]
fn series_table_frees_pages_of_removed_series() {
    let s = Store::new(100_000, 3_600_000);
    let keep = s.get_or_create([("__name__", "keep")]).unwrap();
    let mut last = keep;
    for round in 0..10 {
        let ids: Vec<u32> = (0..3000)
            .map(|k| s.get_or_create([("__name__", "churn"), ("k", &format!("{round}-{k}"))]).unwrap())
            .collect();
        assert!(ids.iter().all(|&id| id > last), "ids are never reused");
        last = *ids.last().unwrap();
        for id in ids {
            s.write().remove(id);
        }
    }
    let inner = s.read();
    assert_eq!(inner.series.len(), 1);
    assert!(inner.series.pages() <= 2, "{} pages for 1 live series", inner.series.pages());
    assert_eq!(inner.series.ids().collect::<Vec<_>>(), vec![keep]);
    drop(inner);
    assert_eq!(s.labels(keep).unwrap().to_string(), "keep");
}

/// Label values of removed series do not stay interned: after enough series went, garbage
/// collection frees their strings; live series, retention entries and a label set created again
/// are unaffected.
#[test]
fn interned_strings_of_removed_series_are_freed() {
    let s = Store::new(100_000, 60_000);
    s.set_retentions(&HashMap::from([("kept_metric".to_string(), 7_200_000)]));
    let live = s.get_or_create([("__name__", "kept_metric"), ("pod", "stable")]).unwrap();
    s.append(live, 1_000_000, 1.0).unwrap();
    for k in 0..3000 {
        let id = s.get_or_create([("__name__", "churn"), ("pod", &format!("pod-{k}"))]).unwrap();
        s.append(id, 1_000, 1.0).unwrap();
    }
    let before = s.read().interner.bytes();
    s.gc(1_000_000);
    assert_eq!(s.stats().series, 1);
    let inner = s.read();
    assert!(inner.interner.bytes() < before, "{} -> {}", before, inner.interner.bytes());
    assert_eq!(inner.interner.lookup("pod-17"), None);
    assert!(inner.interner.lookup("kept_metric").is_some() && inner.interner.lookup("stable").is_some());
    drop(inner);
    assert_eq!(s.labels(live).unwrap().to_string(), "kept_metric{pod=\"stable\"}");
    assert_eq!(s.retention_of(Some("kept_metric")), 7_200_000);
    let again = s.get_or_create([("__name__", "churn"), ("pod", "pod-17")]).unwrap();
    assert_eq!(s.labels(again).unwrap().to_string(), "churn{pod=\"pod-17\"}");
    assert_eq!(s.query(&[Matcher::eq("pod", "pod-17")], 0, i64::MAX).len(), 0, "new, no samples yet");
    assert_eq!(s.select(&[Matcher::eq("pod", "pod-17")]), vec![again]);
}

/// Collecting many dead series is linear and holds the write lock for one batch at a time:
/// 200k series sharing their label values (lists of 200k ids that used to be rebuilt once per
/// removal) go in one collection, postings and fingerprints cleaned. (The 1M-series figures
/// are measured by `cargo bench --bench store_size`; see docs/RELIABILITY.md.)
#[test]
fn collecting_many_dead_series_is_batched() {
    let s = Store::new(1_000_000, 3_600_000);
    let n = 200_000u32;
    for i in 0..n {
        let id = s.get_or_create([("__name__", "m"), ("job", "api"), ("i", i.to_string().as_str())]).unwrap();
        s.append(id, 0, 1.0).unwrap();
    }
    let keep = s.get_or_create([("__name__", "m"), ("job", "api"), ("i", "live")]).unwrap();
    s.append(keep, 10 * 3_600_000, 1.0).unwrap();
    let r = s.gc(10 * 3_600_000);
    assert_eq!(r.series, n as usize);
    assert_eq!(s.stats().series, 1);
    assert_eq!(s.select(&[Matcher::eq("job", "api")]), vec![keep], "postings hold only the live series");
    assert!(r.longest_hold < std::time::Duration::from_secs(5), "one batch held the lock {:?}", r.longest_hold);
    let batches = (n as usize).div_ceil(super::gc::GC_BATCH);
    assert!(batches > 10, "the lock was released {batches} times");
}

/// A failed scrape's series (no samples) are removed; a series with samples is kept.
#[test]
fn unused_series_are_removed_and_used_ones_kept() {
    let s = Store::new(100, 3_600_000);
    let used = s.get_or_create([("__name__", "u")]).unwrap();
    s.append(used, 1, 1.0).unwrap();
    let unused = s.get_or_create([("__name__", "x")]).unwrap();
    let g = s.generation();
    assert_eq!(s.remove_unused(&[used, unused]), 1);
    assert!(s.labels(unused).is_none() && s.labels(used).is_some());
    assert_ne!(s.generation(), g, "scrape caches are told");
}

/// The 1M-dead-series figures of docs/RELIABILITY.md: `cargo test --release --lib -- --ignored
/// gc_of_a_million_dead_series --nocapture` (prints them).
#[test]
#[ignore = "measurement: a million series"]
fn gc_of_a_million_dead_series() {
    let s = Store::new(2_000_000, 3_600_000);
    let t0 = std::time::Instant::now();
    for i in 0..1_000_000u32 {
        let id = s.get_or_create([("__name__", "m"), ("job", "api"), ("i", i.to_string().as_str())]).unwrap();
        s.append(id, 0, 1.0).unwrap();
    }
    let built = t0.elapsed();
    let t1 = std::time::Instant::now();
    let r = s.gc(10 * 3_600_000);
    println!(
        "built 1M series in {built:?}; gc removed {} in {:?}, longest write-lock hold {:?}, label-string sweep {:?}",
        r.series,
        t1.elapsed(),
        r.longest_hold,
        r.sweep_hold
    );
    assert_eq!(r.series, 1_000_000);
}

/// A label string interned again while a sweep runs in steps is kept; the others go.
#[test]
fn a_string_interned_again_during_a_stepped_sweep_is_kept() {
    let mut i = super::labels::Interner::default();
    let (x, y) = (i.intern("x"), i.intern("y"));
    i.begin_sweep(vec![false, false]);
    assert_eq!(i.intern("x"), x, "found again mid-sweep");
    i.sweep_step(0..1);
    i.sweep_step(1..2);
    i.end_sweep();
    assert_eq!(i.lookup("x"), Some(x));
    assert_eq!(i.lookup("y"), None);
    assert_eq!(&**i.get(y), "", "a retired symbol reads as empty");
}

/// Writes a checkpoint of 1M series whose only sample is from 1970 (all dead at any
/// retention) to `$SW_DEAD_CHECKPOINT`, for measuring a restart from it (docs/RELIABILITY.md).
#[test]
#[ignore = "measurement: writes a 1M-series checkpoint"]
fn write_a_checkpoint_of_a_million_dead_series() {
    let Ok(path) = std::env::var("SW_DEAD_CHECKPOINT") else { return };
    let s = Store::new(2_000_000, 3_600_000);
    for i in 0..1_000_000u32 {
        let id = s.get_or_create([("__name__", "m"), ("job", "api"), ("i", i.to_string().as_str())]).unwrap();
        s.append(id, 1_000, 1.0).unwrap();
    }
    let st = s.checkpoint_to(std::path::Path::new(&path)).unwrap();
    println!("checkpoint of {} series written to {path}", st.series);
}
